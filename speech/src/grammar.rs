//! Operator command grammar: a Whisper transcript becomes one of the fixed
//! intents, or `unknown`.
//!
//! Matching is tolerant on purpose: tiny.en mishears fast or synthetic
//! speech ("damp mode" → "Dump mode", "stop" → "Stopp."). Each intent has
//! several phrasings; each phrasing is compared with every window of the
//! transcript's words (one word shorter to one word longer than the phrase)
//! by the mean of two similarities, both `1 - levenshtein / max_len`:
//! on the letters (spaces removed, so "standup" = "stand up") and on a
//! phonetic key (a small Metaphone-like code: voicing pairs merge, vowels
//! after the first letter drop). The best window's similarity, discounted
//! a little by how much of the transcript it leaves unexplained, is the
//! confidence.
//!
//! `stop` is the spoken e-stop. It has the most phrasings, the lowest
//! acceptance threshold, and wins near-ties: a false stop damps a robot
//! that was fine, a missed stop does not stop one that is not.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    StandUp,
    SitDown,
    Squat,
    Damp,
    Stop,
    Start,
    WalkForward,
    WalkBackward,
    TurnLeft,
    TurnRight,
    Wave,
    Unknown,
}

impl Intent {
    /// Every recognisable intent (not `Unknown`).
    pub const ALL: [Intent; 11] = [
        Intent::StandUp,
        Intent::SitDown,
        Intent::Squat,
        Intent::Damp,
        Intent::Stop,
        Intent::Start,
        Intent::WalkForward,
        Intent::WalkBackward,
        Intent::TurnLeft,
        Intent::TurnRight,
        Intent::Wave,
    ];

    /// The fixed names other tools depend on.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::StandUp => "stand_up",
            Intent::SitDown => "sit_down",
            Intent::Squat => "squat",
            Intent::Damp => "damp",
            Intent::Stop => "stop",
            Intent::Start => "start",
            Intent::WalkForward => "walk_forward",
            Intent::WalkBackward => "walk_backward",
            Intent::TurnLeft => "turn_left",
            Intent::TurnRight => "turn_right",
            Intent::Wave => "wave",
            Intent::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<Intent> {
        Intent::ALL
            .into_iter()
            .chain([Intent::Unknown])
            .find(|i| i.as_str() == name)
    }

    fn phrases(self) -> &'static [&'static str] {
        match self {
            Intent::StandUp => &["stand up", "stand", "get up", "stand upright", "rise"],
            Intent::SitDown => &["sit down", "sit", "take a seat", "have a seat"],
            Intent::Squat => &["squat", "squat down", "crouch", "crouch down"],
            Intent::Damp => &["damp", "damp mode", "damping", "dampen", "go limp", "relax"],
            Intent::Stop => &[
                "stop",
                "halt",
                "emergency stop",
                "e stop",
                "estop",
                "freeze",
                "abort",
                "stop now",
                "stop moving",
                "stop the robot",
            ],
            Intent::Start => &["start", "begin", "resume", "start now"],
            Intent::WalkForward => &[
                "walk forward",
                "walk forwards",
                "move forward",
                "go forward",
                "forward",
                "walk",
                "walk ahead",
            ],
            Intent::WalkBackward => &[
                "walk backward",
                "walk backwards",
                "walk back",
                "move backward",
                "move back",
                "go back",
                "step back",
                "back up",
                "backward",
                "backwards",
            ],
            Intent::TurnLeft => &[
                "turn left",
                "rotate left",
                "go left",
                "left",
                "turn to the left",
            ],
            Intent::TurnRight => &[
                "turn right",
                "rotate right",
                "go right",
                "right",
                "turn to the right",
            ],
            Intent::Wave => &[
                "wave",
                "wave your hand",
                "wave your right hand",
                "wave hello",
                "say hello",
                "wave goodbye",
            ],
            Intent::Unknown => &[],
        }
    }

    /// Minimum confidence to accept the intent.
    fn threshold(self) -> f32 {
        if self == Intent::Stop {
            0.55
        } else {
            0.68
        }
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Words that carry no command and should not count against coverage.
const FILLERS: &[&str] = &[
    "please", "now", "robot", "the", "a", "and", "okay", "ok", "can", "you", "hey", "g1", "go",
];

/// Stop wins over a different best intent whose confidence is at most this much higher.
const STOP_TIE_MARGIN: f32 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntentMatch {
    pub intent: Intent,
    /// In [0, 1]. For a command: how well the transcript matched it. For
    /// `unknown`: 1 minus the best rejected candidate's score.
    pub confidence: f32,
}

struct Phrase {
    intent: Intent,
    n_words: usize,
    letters: String,
    key: String,
}

/// The compiled grammar (phrases normalised and keyed once).
pub struct CommandGrammar {
    phrases: Vec<Phrase>,
}

impl Default for CommandGrammar {
    fn default() -> Self {
        Self::new()
    }
}

/// Lower-case words of letters and digits; everything else separates words.
pub fn normalise(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A small Metaphone-like key: letters that sound alike map to one code,
/// vowels after the first letter drop, repeats collapse.
pub fn phonetic_key(word: &str) -> String {
    let w: Vec<char> = word
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut key = String::new();
    let push = |c: char, key: &mut String| {
        if !key.ends_with(c) {
            key.push(c);
        }
    };
    let mut i = 0;
    while i < w.len() {
        let c = w[i];
        let next = w.get(i + 1).copied();
        let is_vowel = |c: char| "aeiouy".contains(c);
        let mut skip = 1;
        let code = match (c, next) {
            (v, _) if is_vowel(v) => {
                if i == 0 {
                    Some('A')
                } else {
                    None
                }
            }
            ('p', Some('h')) => {
                skip = 2;
                Some('F')
            }
            ('s' | 'c', Some('h')) => {
                skip = 2;
                Some('X')
            }
            ('t', Some('h')) => {
                skip = 2;
                Some('0')
            }
            ('g', Some('h')) => {
                skip = 2;
                None
            }
            ('w', Some('h')) => {
                skip = 2;
                Some('W')
            }
            ('c', Some('k')) => {
                skip = 2;
                Some('K')
            }
            ('c', Some('e' | 'i' | 'y')) => Some('S'),
            ('b' | 'p', _) => Some('P'),
            ('d' | 't', _) => Some('T'),
            ('g' | 'k' | 'q' | 'c', _) => Some('K'),
            ('s' | 'z' | 'x', _) => Some('S'),
            ('f' | 'v', _) => Some('F'),
            ('m' | 'n', _) => Some('N'),
            ('h', _) => (i == 0).then_some('H'),
            ('j', _) => Some('J'),
            (other, _) => Some(other.to_ascii_uppercase()),
        };
        if let Some(code) = code {
            push(code, &mut key);
        }
        i += skip;
    }
    key
}

fn levenshtein(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn similarity(a: &str, b: &str) -> f32 {
    let max_len = a.len().max(b.len());
    if max_len == 0 {
        return 0.0;
    }
    1.0 - levenshtein(a.as_bytes(), b.as_bytes()) as f32 / max_len as f32
}

fn key_of(words: &[String]) -> String {
    words.iter().map(|w| phonetic_key(w)).collect()
}

impl CommandGrammar {
    pub fn new() -> Self {
        let phrases = Intent::ALL
            .into_iter()
            .flat_map(|intent| {
                intent.phrases().iter().map(move |p| {
                    let words = normalise(p);
                    Phrase {
                        intent,
                        n_words: words.len(),
                        letters: words.concat(),
                        key: key_of(&words),
                    }
                })
            })
            .collect();
        Self { phrases }
    }

    /// Every intent's best score for this transcript, highest first.
    pub fn scores(&self, transcript: &str) -> Vec<(Intent, f32)> {
        let words = normalise(transcript);
        let content_chars: usize = words
            .iter()
            .filter(|w| !FILLERS.contains(&w.as_str()))
            .map(String::len)
            .sum();
        let mut best: Vec<(Intent, f32)> = Intent::ALL.iter().map(|&i| (i, 0.0)).collect();
        for phrase in &self.phrases {
            let lo = phrase.n_words.saturating_sub(1).max(1);
            let hi = phrase.n_words + 1;
            for len in lo..=hi.min(words.len()) {
                for window in words.windows(len) {
                    let letters = window.concat();
                    let sim = 0.5 * similarity(&phrase.letters, &letters)
                        + 0.5 * similarity(&phrase.key, &key_of(window));
                    let window_content: usize = window
                        .iter()
                        .filter(|w| !FILLERS.contains(&w.as_str()))
                        .map(String::len)
                        .sum();
                    let coverage = if content_chars == 0 {
                        1.0
                    } else {
                        window_content as f32 / content_chars as f32
                    };
                    let score = sim * (0.85 + 0.15 * coverage);
                    let slot = best
                        .iter_mut()
                        .find(|(i, _)| *i == phrase.intent)
                        .expect("every intent has a slot");
                    slot.1 = slot.1.max(score);
                }
            }
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        best
    }

    pub fn classify(&self, transcript: &str) -> IntentMatch {
        let scores = self.scores(transcript);
        let (top, top_score) = scores[0];
        let stop_score = scores
            .iter()
            .find(|(i, _)| *i == Intent::Stop)
            .map_or(0.0, |s| s.1);
        if top != Intent::Stop
            && stop_score >= Intent::Stop.threshold()
            && top_score - stop_score <= STOP_TIE_MARGIN
        {
            return IntentMatch {
                intent: Intent::Stop,
                confidence: stop_score,
            };
        }
        if top_score >= top.threshold() {
            IntentMatch {
                intent: top,
                confidence: top_score,
            }
        } else {
            IntentMatch {
                intent: Intent::Unknown,
                confidence: 1.0 - top_score,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(text: &str) -> Intent {
        CommandGrammar::new().classify(text).intent
    }

    #[test]
    fn names_are_the_fixed_ones() {
        let names: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(
            names,
            [
                "stand_up",
                "sit_down",
                "squat",
                "damp",
                "stop",
                "start",
                "walk_forward",
                "walk_backward",
                "turn_left",
                "turn_right",
                "wave"
            ]
        );
        for i in Intent::ALL {
            assert_eq!(Intent::from_name(i.as_str()), Some(i));
        }
    }

    #[test]
    fn exact_phrasings_with_whisper_punctuation_map_to_their_intent() {
        let cases = [
            ("Stand up.", Intent::StandUp),
            ("Please stand up.", Intent::StandUp),
            ("Sit down.", Intent::SitDown),
            ("Squat.", Intent::Squat),
            ("Damp mode.", Intent::Damp),
            ("Stop.", Intent::Stop),
            ("Start.", Intent::Start),
            ("Walk forward.", Intent::WalkForward),
            ("Move back.", Intent::WalkBackward),
            ("Walk backward.", Intent::WalkBackward),
            ("Turn left.", Intent::TurnLeft),
            ("Turn right!", Intent::TurnRight),
            ("Wave your right hand.", Intent::Wave),
            ("Rotate left", Intent::TurnLeft),
        ];
        for (text, want) in cases {
            assert_eq!(intent(text), want, "{text}");
        }
    }

    #[test]
    fn mishearings_seen_from_tiny_en_still_match() {
        let cases = [
            ("Dump mode.", Intent::Damp),
            ("Stopp.", Intent::Stop),
            ("Standup.", Intent::StandUp),
            ("Sit-down.", Intent::SitDown),
            ("Walk forwards.", Intent::WalkForward),
            ("Turn rights.", Intent::TurnRight),
            ("Squad.", Intent::Squat),
            ("Waive.", Intent::Wave),
        ];
        for (text, want) in cases {
            assert_eq!(intent(text), want, "{text}");
        }
    }

    #[test]
    fn stop_is_the_most_robust() {
        for text in [
            "stop",
            "Stop!",
            "Stop, stop.",
            "STOP STOP STOP",
            "Halt.",
            "Emergency stop!",
            "Freeze.",
            "Stopp",
            "Top.",
            "Stopped.",
            "Stop the robot now.",
            "e-stop",
            "Abort!",
        ] {
            let m = CommandGrammar::new().classify(text);
            assert_eq!(m.intent, Intent::Stop, "{text}: {m:?}");
        }
        // Its acceptance threshold is the lowest of all intents.
        for i in Intent::ALL {
            assert!(Intent::Stop.threshold() <= i.threshold());
        }
    }

    #[test]
    fn unrelated_speech_and_hallucinations_are_unknown() {
        for text in [
            "",
            "Thank you.",
            "you",
            "The quick brown fox jumps over the lazy dog.",
            "What is the weather like today?",
            "[BLANK_AUDIO]",
            "...",
            "Bye.",
        ] {
            let m = CommandGrammar::new().classify(text);
            assert_eq!(m.intent, Intent::Unknown, "{text:?}: {m:?}");
            assert!((0.0..=1.0).contains(&m.confidence));
        }
    }

    #[test]
    fn confidence_is_in_unit_range_and_exact_beats_misheard() {
        let g = CommandGrammar::new();
        let exact = g.classify("Walk forward.");
        let misheard = g.classify("Woke forward.");
        assert_eq!(misheard.intent, Intent::WalkForward);
        assert!(exact.confidence > misheard.confidence);
        assert!((0.0..=1.0).contains(&exact.confidence));
        assert!((exact.confidence - 1.0).abs() < 1e-6);
    }

    #[test]
    fn phonetic_key_merges_sound_alikes() {
        assert_eq!(phonetic_key("damp"), phonetic_key("dump"));
        assert_eq!(phonetic_key("stop"), phonetic_key("stopp"));
        assert_eq!(phonetic_key("phone"), phonetic_key("fone"));
        assert_ne!(phonetic_key("left"), phonetic_key("right"));
    }
}
