//! Reader for CTranslate2's `model.bin` (binary version 6), the format
//! faster-whisper ships. Layout (see shared/docs/models.md):
//!
//! ```text
//! u32 version (6) | string spec name | u32 revision | u32 n_variables
//! n_variables × { string name | u8 rank | rank × u32 dims | u8 dtype | u32 n_bytes | bytes }
//! u32 n_aliases | n_aliases × { string alias | string target }
//! ```
//! A string is a u16 length that counts a trailing NUL, the bytes, the NUL.
//! Everything is little-endian.

use std::path::{Path, PathBuf};

/// The only CT2 binary version this reader understands.
pub const CT2_BINARY_VERSION: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    pub fn size_bytes(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ct2Variable {
    pub name: String,
    pub dims: Vec<usize>,
    pub dtype: Ct2Dtype,
    pub data: Vec<u8>,
}

impl Ct2Variable {
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as f32, whatever the stored float type.
    pub fn to_f32(&self) -> Result<Vec<f32>, Ct2Error> {
        let chunks = self.data.chunks_exact(self.dtype.size_bytes());
        Ok(match self.dtype {
            Ct2Dtype::F32 => chunks
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Ct2Dtype::F16 => chunks
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Ct2Dtype::Bf16 => chunks
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(Ct2Error::UnexpectedDtype {
                    name: self.name.clone(),
                    dtype: other,
                    wanted: "a float type (f32, f16, bf16)",
                })
            }
        })
    }

    /// The values as little-endian f16 bytes (converting from f32/bf16 if needed).
    pub fn to_f16_bytes(&self) -> Result<Vec<u8>, Ct2Error> {
        if self.dtype == Ct2Dtype::F16 {
            return Ok(self.data.clone());
        }
        Ok(self
            .to_f32()?
            .into_iter()
            .flat_map(|x| half::f16::from_f32(x).to_le_bytes())
            .collect())
    }

    /// A scalar integer config value such as `encoder/num_heads`.
    pub fn scalar_int(&self) -> Result<i64, Ct2Error> {
        let b = &self.data;
        let value = match (self.dtype, b.len()) {
            (Ct2Dtype::I8, 1) => i64::from(b[0] as i8),
            (Ct2Dtype::I16, 2) => i64::from(i16::from_le_bytes([b[0], b[1]])),
            (Ct2Dtype::I32, 4) => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => {
                return Err(Ct2Error::UnexpectedDtype {
                    name: self.name.clone(),
                    dtype: self.dtype,
                    wanted: "an integer scalar",
                })
            }
        };
        Ok(value)
    }
}

#[derive(Debug, Clone)]
pub struct Ct2Model {
    pub spec_name: String,
    pub spec_revision: u32,
    pub variables: Vec<Ct2Variable>,
    /// (alias, target) pairs.
    pub aliases: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("cannot read CTranslate2 model '{path}'")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "CTranslate2 model is truncated: reading {what} at byte {offset} needs {needed} bytes, but \
         the file has {file_len}; re-download it (scripts/install-speech.sh --force)"
    )]
    Truncated {
        what: String,
        offset: usize,
        needed: usize,
        file_len: usize,
    },
    #[error(
        "not a CTranslate2 model of binary version {CT2_BINARY_VERSION}: the file starts with \
         version {0}; convert it with a CTranslate2 release that writes version 6"
    )]
    UnsupportedVersion(u32),
    #[error("CTranslate2 model has a malformed string at byte {offset}: {why}")]
    BadString { offset: usize, why: &'static str },
    #[error("CTranslate2 variable '{name}' has unknown dtype code {code} (known: 0..=5)")]
    UnknownDtype { name: String, code: u8 },
    #[error(
        "CTranslate2 variable '{name}' has dims {dims:?} of {dtype:?} ({expected} bytes) but \
         stores {actual} bytes; the file is corrupt"
    )]
    SizeMismatch {
        name: String,
        dims: Vec<usize>,
        dtype: Ct2Dtype,
        expected: usize,
        actual: usize,
    },
    #[error("CTranslate2 variable '{name}' has dtype {dtype:?}; expected {wanted}")]
    UnexpectedDtype {
        name: String,
        dtype: Ct2Dtype,
        wanted: &'static str,
    },
    #[error("CTranslate2 model has {0} unread bytes after the alias table; the file is corrupt")]
    TrailingBytes(usize),
    #[error("CTranslate2 model lacks variable '{0}'; is this a Whisper model (WhisperSpec)?")]
    Missing(String),
}

struct Cursor<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], Ct2Error> {
        if self.data.len() - self.offset < n {
            return Err(Ct2Error::Truncated {
                what: what(),
                offset: self.offset,
                needed: n,
                file_len: self.data.len(),
            });
        }
        let s = &self.data[self.offset..self.offset + n];
        self.offset += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Ct2Error> {
        Ok(self.take(1, || what.to_string())?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, Ct2Error> {
        let b = self.take(2, || what.to_string())?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Ct2Error> {
        let b = self.take(4, || what.to_string())?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, Ct2Error> {
        let start = self.offset;
        let len = usize::from(self.u16(what)?);
        if len == 0 {
            return Err(Ct2Error::BadString {
                offset: start,
                why: "length 0 (the length counts the trailing NUL, so it is at least 1)",
            });
        }
        let bytes = self.take(len, || what.to_string())?;
        if bytes[len - 1] != 0 {
            return Err(Ct2Error::BadString {
                offset: start,
                why: "no trailing NUL",
            });
        }
        String::from_utf8(bytes[..len - 1].to_vec()).map_err(|_| Ct2Error::BadString {
            offset: start,
            why: "not UTF-8",
        })
    }
}

impl Ct2Model {
    pub fn load(path: &Path) -> Result<Self, Ct2Error> {
        let data = std::fs::read(path).map_err(|source| Ct2Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&data)
    }

    pub fn parse(data: &[u8]) -> Result<Self, Ct2Error> {
        let mut c = Cursor { data, offset: 0 };
        let version = c.u32("the binary version")?;
        if version != CT2_BINARY_VERSION {
            return Err(Ct2Error::UnsupportedVersion(version));
        }
        let spec_name = c.string("the spec name")?;
        let spec_revision = c.u32("the spec revision")?;
        let n_variables = c.u32("the variable count")? as usize;
        let mut variables = Vec::with_capacity(n_variables.min(4096));
        for i in 0..n_variables {
            let name = c.string(&format!("the name of variable {i}"))?;
            let rank = c.u8(&format!("the rank of '{name}'"))?;
            let mut dims = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                dims.push(c.u32(&format!("the dims of '{name}'"))? as usize);
            }
            let code = c.u8(&format!("the dtype of '{name}'"))?;
            let dtype = Ct2Dtype::from_code(code).ok_or_else(|| Ct2Error::UnknownDtype {
                name: name.clone(),
                code,
            })?;
            let n_bytes = c.u32(&format!("the byte count of '{name}'"))? as usize;
            let expected = dims
                .iter()
                .try_fold(dtype.size_bytes(), |acc, &d| acc.checked_mul(d));
            if expected != Some(n_bytes) {
                return Err(Ct2Error::SizeMismatch {
                    name,
                    dims,
                    dtype,
                    expected: expected.unwrap_or(usize::MAX),
                    actual: n_bytes,
                });
            }
            let bytes = c.take(n_bytes, || format!("the data of '{name}'"))?;
            variables.push(Ct2Variable {
                name,
                dims,
                dtype,
                data: bytes.to_vec(),
            });
        }
        let n_aliases = c.u32("the alias count")? as usize;
        let mut aliases = Vec::with_capacity(n_aliases.min(4096));
        for _ in 0..n_aliases {
            let alias = c.string("an alias name")?;
            let target = c.string("an alias target")?;
            aliases.push((alias, target));
        }
        if c.offset != data.len() {
            return Err(Ct2Error::TrailingBytes(data.len() - c.offset));
        }
        Ok(Self {
            spec_name,
            spec_revision,
            variables,
            aliases,
        })
    }

    /// Looks a variable up by name, following aliases.
    pub fn get(&self, name: &str) -> Result<&Ct2Variable, Ct2Error> {
        let target = self
            .aliases
            .iter()
            .find(|(alias, _)| alias == name)
            .map_or(name, |(_, target)| target.as_str());
        self.variables
            .iter()
            .find(|v| v.name == target)
            .ok_or_else(|| Ct2Error::Missing(name.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a small CT2 file by hand, as CTranslate2's `model_spec.py` does.
    pub(crate) fn write_ct2(
        vars: &[(&str, &[usize], u8, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&6u32.to_le_bytes());
        string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
        for (name, dims, dtype, data) in vars {
            string(&mut out, name);
            out.push(dims.len() as u8);
            for d in *dims {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
            }
            out.push(*dtype);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for (a, t) in aliases {
            string(&mut out, a);
            string(&mut out, t);
        }
        out
    }

    fn sample() -> Vec<u8> {
        let w: Vec<u8> = [1.0f32, -2.0, 0.5, 4.0]
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        write_ct2(
            &[
                ("enc/w", &[2, 2], 4, w),
                ("enc/num_heads", &[], 2, 6i16.to_le_bytes().to_vec()),
            ],
            &[("dec/proj", "enc/w")],
        )
    }

    #[test]
    fn parses_variables_scalars_and_aliases() {
        let m = Ct2Model::parse(&sample()).unwrap();
        assert_eq!(m.spec_name, "WhisperSpec");
        assert_eq!(m.spec_revision, 3);
        assert_eq!(
            m.get("enc/w").unwrap().to_f32().unwrap(),
            [1.0, -2.0, 0.5, 4.0]
        );
        assert_eq!(m.get("dec/proj").unwrap().dims, [2, 2]);
        assert_eq!(m.get("enc/num_heads").unwrap().scalar_int().unwrap(), 6);
        assert!(matches!(m.get("nope"), Err(Ct2Error::Missing(_))));
    }

    #[test]
    fn every_truncation_is_a_clear_error() {
        let full = sample();
        for len in 0..full.len() {
            let err = Ct2Model::parse(&full[..len]).unwrap_err();
            assert!(
                matches!(err, Ct2Error::Truncated { .. }),
                "len {len}: {err}"
            );
            assert!(err.to_string().contains("truncated"));
        }
    }

    #[test]
    fn corrupt_headers_are_named() {
        let mut bad_version = sample();
        bad_version[0] = 5;
        assert!(matches!(
            Ct2Model::parse(&bad_version),
            Err(Ct2Error::UnsupportedVersion(5))
        ));

        let mut trailing = sample();
        trailing.push(0);
        assert!(matches!(
            Ct2Model::parse(&trailing),
            Err(Ct2Error::TrailingBytes(1))
        ));

        let bad_dtype = write_ct2(&[("x", &[1], 9, vec![0])], &[]);
        assert!(matches!(
            Ct2Model::parse(&bad_dtype),
            Err(Ct2Error::UnknownDtype { code: 9, .. })
        ));

        let bad_size = write_ct2(&[("x", &[3], 0, vec![0; 8])], &[]);
        let err = Ct2Model::parse(&bad_size).unwrap_err();
        assert!(err.to_string().contains("stores 8 bytes"), "{err}");
    }
}
