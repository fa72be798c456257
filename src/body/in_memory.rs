//! A body of bytes already in memory.

use std::collections::VecDeque;

use bytes::Bytes;

/// Chunks handed on one per frame, in order.
pub(super) struct InMemoryBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl InMemoryBody {
    pub(super) fn new(chunks: Vec<Bytes>) -> Self {
        let remaining = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        Self {
            chunks: chunks.into(),
            remaining,
        }
    }

    /// The next chunk; `None` at the end.
    pub(super) fn next(&mut self) -> Option<Bytes> {
        let chunk = self.chunks.pop_front()?;
        self.remaining -= chunk.len() as u64;
        Some(chunk)
    }

    /// The bytes not yet handed on.
    pub(super) fn remaining(&self) -> u64 {
        self.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_out_in_order_and_count_down() {
        let mut body = InMemoryBody::new(vec![Bytes::from("ab"), Bytes::from("cde")]);
        assert_eq!(body.remaining(), 5);
        assert_eq!(body.next().unwrap(), "ab");
        assert_eq!(body.remaining(), 3);
        assert_eq!(body.next().unwrap(), "cde");
        assert_eq!(body.remaining(), 0);
        assert!(body.next().is_none());
    }
}
