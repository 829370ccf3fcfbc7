//! Realistic, pre-built, pre-signed Meta webhook bodies.
//!
//! Each POST carries 1 to 50 items (80 % one item, 15 % 2–10, 5 % 11–50); 85 % of items are
//! inbound text messages from a pool of distinct customers, 15 % are delivery statuses for
//! outbound wamids the platform does not know (stored as pending statuses). Every message has a
//! unique wamid that ends in its 12-digit index, so the event stream can be matched back to the
//! POST that carried it.

use std::fmt::Write as _;

use bytes::Bytes;
use http::HeaderValue;

/// One pre-built POST.
pub struct Body {
    pub bytes: Bytes,
    pub signature: HeaderValue,
    /// Global index of this body's first message (messages are numbered contiguously).
    pub msg_start: u64,
    pub msgs: u32,
    pub items: u32,
}

/// A small, fast, deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const PHRASES: &[&str] = &[
    "Hi, is my order on its way?",
    "Does it come in another color?",
    "What are your opening hours today?",
    "I need to change my delivery address",
    "Thanks, that worked!",
    "Can I speak to a human please",
    "How much is shipping to Lisbon?",
    "The app says my payment failed",
    "ok",
    "Do you have this in size M?",
    "When will the refund arrive?",
    "Good morning! Quick question about my booking",
];
const NAMES: &[&str] = &[
    "Sheena Nelson",
    "João Silva",
    "Amara Okafor",
    "Li Wei",
    "María García",
    "Noah Smith",
    "Aisha Khan",
    "Lukas Müller",
];

/// The numbers the bodies are addressed to (`phone_number_id`, `waba_id`).
#[derive(Clone)]
pub struct Number {
    pub phone_number_id: String,
    pub waba_id: String,
}

/// How many items each POST carries.
#[derive(Clone, Copy, Debug)]
pub enum ItemMix {
    /// 80 % one item, 15 % 2–10, 5 % 11–50 (mean ≈ 3.3): the `ingest` mix.
    Ingest,
    /// Always this many.
    Fixed(u32),
    /// Uniform in `lo..=hi`.
    Uniform(u32, u32),
}

pub struct Generator {
    rng: Rng,
    mix: ItemMix,
    status_percent: u64,
    run: String,
    numbers: Vec<Number>,
    customers: u64,
    secret: Vec<u8>,
    next_msg: u64,
    next_status: u64,
    now: u64,
}

impl Generator {
    pub fn new(seed: u64, run: &str, numbers: Vec<Number>, customers: u64, secret: &str) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1_750_000_000);
        Self {
            rng: Rng::new(seed),
            mix: ItemMix::Ingest,
            status_percent: 15,
            run: run.to_string(),
            numbers,
            customers: customers.max(1),
            secret: secret.as_bytes().to_vec(),
            next_msg: 0,
            next_status: 0,
            now,
        }
    }

    /// Items per POST of the bodies built from now on.
    pub fn set_mix(&mut self, mix: ItemMix) {
        self.mix = mix;
    }

    /// Share of items (percent) that are statuses of unknown outbound messages (the rest are
    /// inbound text messages) in the bodies built from now on.
    pub fn set_status_percent(&mut self, percent: u64) {
        self.status_percent = percent.min(100);
    }

    /// Messages numbered so far (the size the tracking arrays need).
    pub fn messages_issued(&self) -> u64 {
        self.next_msg
    }

    fn items_per_post(&mut self) -> u32 {
        match self.mix {
            ItemMix::Ingest => {}
            ItemMix::Fixed(n) => return n.max(1),
            ItemMix::Uniform(lo, hi) => return self.rng.range(lo.max(1) as u64, hi.max(lo.max(1)) as u64) as u32,
        }
        let p = self.rng.next() % 100;
        if p < 80 {
            1
        } else if p < 95 {
            self.rng.range(2, 10) as u32
        } else {
            self.rng.range(11, 50) as u32
        }
    }

    /// Builds `n` bodies.
    pub fn bodies(&mut self, n: usize) -> Vec<Body> {
        (0..n).map(|_| self.body()).collect()
    }

    /// Builds bodies until they carry at least `msgs` messages.
    pub fn bodies_with_messages(&mut self, msgs: u64) -> Vec<Body> {
        let mut out = Vec::new();
        let mut total = 0u64;
        while total < msgs {
            let b = self.body();
            total += b.msgs as u64;
            out.push(b);
        }
        out
    }

    pub fn body(&mut self) -> Body {
        let items = self.items_per_post();
        let number = self.numbers[(self.rng.next() % self.numbers.len() as u64) as usize].clone();
        let msg_start = self.next_msg;
        let mut contacts = String::new();
        let mut messages = String::new();
        let mut statuses = String::new();
        let mut msgs = 0u32;
        for _ in 0..items {
            let customer = 15_550_000_000 + self.rng.range(0, self.customers - 1);
            let ts = self.now + self.next_msg / 1000;
            if self.rng.chance(self.status_percent) {
                let k = self.next_status;
                self.next_status += 1;
                let status = ["sent", "delivered", "read"][(self.rng.next() % 3) as usize];
                if !statuses.is_empty() {
                    statuses.push(',');
                }
                let _ = write!(
                    statuses,
                    r#"{{"id":"wamid.HBgLT1VUQk9VTkQ{run}{k:012}","status":"{status}","timestamp":"{ts}","recipient_id":"{customer}""#,
                    run = self.run
                );
                if status != "read" {
                    let _ = write!(
                        statuses,
                        r#","conversation":{{"id":"{:016x}{:016x}","origin":{{"type":"service"}}}},"pricing":{{"billable":true,"pricing_model":"PMP","category":"service"}}"#,
                        self.rng.next(),
                        self.rng.next()
                    );
                }
                statuses.push('}');
            } else {
                let idx = self.next_msg;
                self.next_msg += 1;
                msgs += 1;
                let name = NAMES[(customer % NAMES.len() as u64) as usize];
                let text = PHRASES[(self.rng.next() % PHRASES.len() as u64) as usize];
                if !contacts.is_empty() {
                    contacts.push(',');
                    messages.push(',');
                }
                let _ = write!(contacts, r#"{{"profile":{{"name":"{name}"}},"wa_id":"{customer}"}}"#);
                let _ = write!(
                    messages,
                    r#"{{"from":"{customer}","id":"wamid.HBgLMTU1NTA{run}{idx:012}","timestamp":"{ts}","type":"text","text":{{"body":"{text}"}}}}"#,
                    run = self.run
                );
            }
        }
        let metadata = format!(
            r#""messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{}"}}"#,
            number.phone_number_id
        );
        let mut changes = Vec::new();
        if !messages.is_empty() {
            changes.push(format!(
                r#"{{"value":{{{metadata},"contacts":[{contacts}],"messages":[{messages}]}},"field":"messages"}}"#
            ));
        }
        if !statuses.is_empty() {
            changes.push(format!(r#"{{"value":{{{metadata},"statuses":[{statuses}]}},"field":"messages"}}"#));
        }
        let json = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{}","changes":[{}]}}]}}"#,
            number.waba_id,
            changes.join(",")
        );
        let signature = meta_cloud::signature::sign(&self.secret, json.as_bytes());
        Body {
            signature: HeaderValue::from_str(&signature).expect("hex signature is a valid header"),
            bytes: Bytes::from(json),
            msg_start,
            msgs,
            items,
        }
    }
}

/// The message index a wamid built by [`Generator`] carries (its last 12 digits).
pub fn message_index(wamid: &str) -> Option<u64> {
    let tail = wamid.get(wamid.len().checked_sub(12)?..)?;
    tail.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_as_meta_webhooks_and_carry_their_indexes() {
        let numbers = vec![Number { phone_number_id: "106540352242922".into(), waba_id: "9106540352242922".into() }];
        let mut g = Generator::new(7, "ab12cd34", numbers, 100, "s");
        let bodies = g.bodies(500);
        let mut expected = 0;
        for b in &bodies {
            let p = meta_cloud::webhook::parse_webhook(&b.bytes).expect("parses");
            assert_eq!(b.msg_start, expected);
            let ids: Vec<u64> = p.messages().map(|m| message_index(&m.id).unwrap()).collect();
            assert_eq!(ids.len() as u32, b.msgs);
            assert_eq!(ids, (expected..expected + b.msgs as u64).collect::<Vec<_>>());
            assert_eq!(p.events().count() as u32, b.items);
            assert!(meta_cloud::signature::verify(b"s", &b.bytes, b.signature.to_str().unwrap()));
            expected += b.msgs as u64;
        }
        assert!(bodies.iter().any(|b| b.items > 10));
    }
}
