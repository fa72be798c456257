//! A walk over a planned body's segments.

use bytes::Bytes;

use crate::range::Region;
use crate::response::{segments_len, Segment};

/// The segments of a plan, taken in order, with the count of bytes they still send.
#[derive(Debug)]
pub(crate) struct PlanCursor {
    segments: std::vec::IntoIter<Segment>,
    /// Bytes of the segments not yet taken.
    untaken: u64,
}

/// What a plan sends next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Bytes made by the planner.
    Bytes(Bytes),
    /// A region of the representation.
    Region(Region),
}

impl PlanCursor {
    pub(crate) fn new(segments: Vec<Segment>) -> Self {
        Self {
            untaken: segments_len(&segments),
            segments: segments.into_iter(),
        }
    }

    /// The bytes of the segments not yet taken.
    pub(crate) fn untaken(&self) -> u64 {
        self.untaken
    }

    /// Ends the walk.
    pub(crate) fn clear(&mut self) {
        self.segments = Vec::new().into_iter();
        self.untaken = 0;
    }
}

impl Iterator for PlanCursor {
    type Item = Next;

    /// The next segment that sends anything; empty ones are skipped.
    fn next(&mut self) -> Option<Next> {
        for segment in self.segments.by_ref() {
            match segment {
                Segment::Bytes(bytes) if !bytes.is_empty() => {
                    self.untaken -= bytes.len() as u64;
                    return Some(Next::Bytes(bytes));
                }
                Segment::Region(region) if !region.is_empty() => {
                    self.untaken -= region.len();
                    return Some(Next::Region(region));
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_come_in_order_and_empty_ones_are_skipped() {
        let region = Region::new(5, 10).unwrap();
        let mut cursor = PlanCursor::new(vec![
            Segment::Bytes(Bytes::from("head")),
            Segment::Bytes(Bytes::new()),
            Segment::Region(region),
            Segment::Bytes(Bytes::from("tail")),
        ]);
        assert_eq!(cursor.untaken(), 13);
        assert_eq!(cursor.next(), Some(Next::Bytes(Bytes::from("head"))));
        assert_eq!(cursor.next(), Some(Next::Region(region)));
        assert_eq!(cursor.untaken(), 4);
        assert_eq!(cursor.next(), Some(Next::Bytes(Bytes::from("tail"))));
        assert_eq!(cursor.next(), None);
        assert_eq!(cursor.untaken(), 0);
    }
}
