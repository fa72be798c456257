//! Which regions of an answer one GET fetches: pure, no I/O.

use crate::range::Region;

/// Groups `regions` (in the order the body reads them) into the spans GETs fetch: a region
/// joins the previous span when it starts at most `merge_gap` bytes after that span's end;
/// then, while there are more than `max_gets` spans, the two with the smallest gap between
/// them are merged. A span is only ever extended forwards, so the body reads each one in one
/// pass; regions that go backwards start a span of their own.
///
/// The bytes fetched and dropped are the gaps inside spans: each at most `merge_gap`, except
/// where the cap merged spans, and never more than the distance from the first region of a
/// span to its last.
pub(crate) fn spans(
    regions: impl Iterator<Item = Region>,
    merge_gap: u64,
    max_gets: usize,
) -> Vec<Region> {
    let mut spans: Vec<Region> = Vec::new();
    for region in regions {
        match spans.last_mut() {
            Some(span)
                if region.start() >= span.end() && region.start() - span.end() <= merge_gap =>
            {
                *span = Region::new(span.start(), region.end()).expect("a span grows");
            }
            _ => spans.push(region),
        }
    }
    while spans.len() > max_gets.max(1) {
        // The forward gap between neighbours; a backward step cannot be merged by extending.
        let closest = spans
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| pair[1].start() >= pair[0].end())
            .min_by_key(|(_, pair)| pair[1].start() - pair[0].end())
            .map(|(i, _)| i);
        let Some(i) = closest else { break };
        let merged = Region::new(spans[i].start(), spans[i + 1].end()).expect("a span grows");
        spans[i] = merged;
        spans.remove(i + 1);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Region {
        Region::new(start, end).unwrap()
    }

    fn grouped(regions: &[Region], gap: u64, max: usize) -> Vec<(u64, u64)> {
        spans(regions.iter().copied(), gap, max)
            .into_iter()
            .map(|s| (s.start(), s.end()))
            .collect()
    }

    #[test]
    fn close_regions_share_a_get_and_distant_ones_do_not() {
        let regions = [r(0, 10), r(20, 30), r(1000, 1010)];
        assert_eq!(grouped(&regions, 10, 8), [(0, 30), (1000, 1010)]);
        assert_eq!(grouped(&regions, 9, 8), [(0, 10), (20, 30), (1000, 1010)]);
    }

    #[test]
    fn the_cap_merges_the_closest_spans_first() {
        let regions = [r(0, 10), r(100, 110), r(115, 120), r(5000, 5010)];
        assert_eq!(grouped(&regions, 0, 3), [(0, 10), (100, 120), (5000, 5010)]);
        assert_eq!(grouped(&regions, 0, 2), [(0, 120), (5000, 5010)]);
        assert_eq!(grouped(&regions, 0, 1), [(0, 5010)]);
    }

    #[test]
    fn sixty_four_ranges_cost_at_most_the_cap() {
        let regions: Vec<Region> = (0..64)
            .map(|i| r(i * 1_000_000, i * 1_000_000 + 10))
            .collect();
        let spans = spans(regions.iter().copied(), 0, 4);
        assert_eq!(spans.len(), 4);
        // Every region lies inside a span, in order.
        let mut next = 0;
        for region in regions {
            while !(spans[next].start() <= region.start() && region.end() <= spans[next].end()) {
                next += 1;
            }
        }
    }

    #[test]
    fn a_region_before_the_last_span_starts_a_span_of_its_own() {
        let regions = [r(100, 200), r(0, 10)];
        assert_eq!(grouped(&regions, 1000, 1), [(100, 200), (0, 10)]);
    }
}
