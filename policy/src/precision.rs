//! Per-component precision: which format each part of the model is stored in.
//! Q/K/V and the FFN tolerate 4–8 bits; embeddings, norms and the KV cache
//! do not, so the default keeps those at 16–32 bits.

use serde::{Deserialize, Serialize};

use crate::quant::Format;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Embeddings,
    Norms,
    Qkv,
    AttnOut,
    Ffn,
    LmHead,
    KvCache,
    /// Vision/audio projections and the state MLP.
    Inputs,
}

impl Component {
    pub const ALL: [Component; 8] = [
        Component::Embeddings,
        Component::Norms,
        Component::Qkv,
        Component::AttnOut,
        Component::Ffn,
        Component::LmHead,
        Component::KvCache,
        Component::Inputs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Embeddings => "embeddings",
            Component::Norms => "norms",
            Component::Qkv => "qkv",
            Component::AttnOut => "attn_out",
            Component::Ffn => "ffn",
            Component::LmHead => "lm_head",
            Component::KvCache => "kv_cache",
            Component::Inputs => "inputs",
        }
    }

    pub fn parse(s: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Formats a component may take: norms and the KV cache are vectors
    /// written per token, so only the float formats fit them.
    pub fn allows(self, f: Format) -> bool {
        match self {
            Component::Norms | Component::KvCache => {
                matches!(f, Format::F32 | Format::F16 | Format::BF16)
            }
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrecisionPolicy {
    #[serde(with = "format_name")]
    pub embeddings: Format,
    #[serde(with = "format_name")]
    pub norms: Format,
    #[serde(with = "format_name")]
    pub qkv: Format,
    #[serde(with = "format_name")]
    pub attn_out: Format,
    #[serde(with = "format_name")]
    pub ffn: Format,
    #[serde(with = "format_name")]
    pub lm_head: Format,
    #[serde(with = "format_name")]
    pub kv_cache: Format,
    #[serde(with = "format_name")]
    pub inputs: Format,
}

impl Default for PrecisionPolicy {
    fn default() -> Self {
        PrecisionPolicy {
            embeddings: Format::F16,
            norms: Format::F32,
            qkv: Format::Q8_0,
            attn_out: Format::Q8_0,
            ffn: Format::Q4_0,
            lm_head: Format::Q8_0,
            kv_cache: Format::F16,
            inputs: Format::F16,
        }
    }
}

impl PrecisionPolicy {
    /// Everything at f32: the reference against which sensitivity is measured.
    pub fn all_f32() -> Self {
        Self::uniform(Format::F32)
    }

    /// Every component at `f` where it allows it, F32 elsewhere... except the
    /// KV cache, which follows `f` only for float formats.
    pub fn uniform(f: Format) -> Self {
        let mut p = PrecisionPolicy {
            embeddings: f,
            norms: Format::F32,
            qkv: f,
            attn_out: f,
            ffn: f,
            lm_head: f,
            kv_cache: Format::F32,
            inputs: f,
        };
        if Component::KvCache.allows(f) {
            p.kv_cache = f;
            p.norms = f;
        }
        p
    }

    pub fn get(&self, c: Component) -> Format {
        match c {
            Component::Embeddings => self.embeddings,
            Component::Norms => self.norms,
            Component::Qkv => self.qkv,
            Component::AttnOut => self.attn_out,
            Component::Ffn => self.ffn,
            Component::LmHead => self.lm_head,
            Component::KvCache => self.kv_cache,
            Component::Inputs => self.inputs,
        }
    }

    pub fn set(&mut self, c: Component, f: Format) -> Result<(), String> {
        if !c.allows(f) {
            return Err(format!(
                "component '{}' cannot be stored as {f}; it takes F32, F16 or BF16",
                c.name()
            ));
        }
        *match c {
            Component::Embeddings => &mut self.embeddings,
            Component::Norms => &mut self.norms,
            Component::Qkv => &mut self.qkv,
            Component::AttnOut => &mut self.attn_out,
            Component::Ffn => &mut self.ffn,
            Component::LmHead => &mut self.lm_head,
            Component::KvCache => &mut self.kv_cache,
            Component::Inputs => &mut self.inputs,
        } = f;
        Ok(())
    }

    /// Applies `comp=FMT,comp=FMT` overrides (CLI `--policy`), e.g.
    /// `ffn=q4_0,qkv=nvfp4`. The word `all=FMT` sets every matrix.
    pub fn apply_overrides(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("precision override '{item}' is not COMPONENT=FORMAT"))?;
            let f = Format::parse(v.trim()).ok_or_else(|| {
                format!(
                    "unknown format '{v}' in '{item}'; formats: {}",
                    Format::SUPPORTED_LIST
                )
            })?;
            if k.trim() == "all" {
                *self = PrecisionPolicy {
                    embeddings: self.embeddings,
                    norms: self.norms,
                    kv_cache: self.kv_cache,
                    ..PrecisionPolicy::uniform(f)
                };
                continue;
            }
            let c = Component::parse(k.trim()).ok_or_else(|| {
                let names: Vec<_> = Component::ALL.iter().map(|c| c.name()).collect();
                format!("unknown component '{k}'; components: {}", names.join(", "))
            })?;
            self.set(c, f)?;
        }
        Ok(())
    }
}

mod format_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::quant::Format;

    pub fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(f.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        Format::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown format '{s}'; formats: {}",
                Format::SUPPORTED_LIST
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_embeddings_norms_and_kv_cache_high_precision() {
        let p = PrecisionPolicy::default();
        assert!(p.embeddings.bits_per_value() >= 16.0);
        assert!(p.norms.bits_per_value() >= 16.0);
        assert!(p.kv_cache.bits_per_value() >= 16.0);
        for c in [Component::Qkv, Component::AttnOut, Component::Ffn] {
            let bits = p.get(c).bits_per_value();
            assert!((4.0..=8.5).contains(&bits), "{c:?} at {bits} bits");
        }
    }

    #[test]
    fn overrides_parse_and_reject_bad_components() {
        let mut p = PrecisionPolicy::default();
        p.apply_overrides("ffn=nvfp4, qkv=MXFP4,kv_cache=f32")
            .unwrap();
        assert_eq!(
            (p.ffn, p.qkv, p.kv_cache),
            (Format::NVFP4, Format::MXFP4, Format::F32)
        );
        assert!(p
            .apply_overrides("kv_cache=q4_0")
            .unwrap_err()
            .contains("F32, F16 or BF16"));
        assert!(p
            .apply_overrides("mlp=q4_0")
            .unwrap_err()
            .contains("components:"));
        assert!(p
            .apply_overrides("ffn=q3")
            .unwrap_err()
            .contains("unknown format"));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PrecisionPolicy>(&json).unwrap(), p);
    }
}
