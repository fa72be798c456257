//! Reading a representation region by region.
//!
//! A response body asks its [`RegionReader`] once per planned region (a range, or a part of a
//! multipart answer) and pulls that region's frames from the stream it gets back: frames of
//! exactly [`ReadConfig::frame_size`] bytes, the last one of the region possibly shorter.
//! Two adapters turn the two natural shapes of a source into such streams:
//!
//! - [`PositionalFrames`], for sources that read any `(offset, len)` at will ([`SourceReader`]:
//!   local files, memory): one read per frame, with an adaptive read-ahead of up to
//!   [`ReadConfig::read_ahead`] frames drawn from a shared [`ReadAheadBudget`]. Every
//!   `SourceReader + Clone` is a `RegionReader` through it.
//! - [`StreamFrames`], for sources that answer a region with a stream of chunks of their own
//!   sizes (object storage, HTTP): one upstream request per region, its chunks re-split into
//!   frames without copying where a frame lies inside one chunk.

use std::future::Future;

use bytes::Bytes;
use futures_core::Stream;

use crate::budget::ReadAheadBudget;
use crate::range::Region;
use crate::response::Segment;
use crate::{Error, OpenError};

mod pacing;
mod positional;
mod rechunk;

pub(crate) use pacing::Pacing;
pub use positional::{PositionalFrames, SourceReader};
pub use rechunk::StreamFrames;

/// Reads the regions of one opened version of a representation.
pub trait RegionReader: Send + 'static {
    /// The frames of one region, in order.
    type Frames: Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static;

    /// Starts reading `region`. The stream yields frames of exactly `config.frame_size()`
    /// bytes (the last may be shorter) that add up to the region, or ends with an error; it
    /// should read no further ahead than `config.read_ahead()` frames of what was taken.
    fn read_region(&self, region: Region, config: &ReadConfig) -> Self::Frames;

    /// Called once per response that reads, before its head is sent, with every region the
    /// body will read, in order. A reader whose reads go to a remote store starts the first
    /// one here, so that what only that read can tell (the version is gone, the store is
    /// down) becomes the answer's status instead of a cut body, and groups regions it will
    /// fetch together. An error of kind [`Changed`](crate::OpenErrorKind::Changed) has the
    /// pipeline resolve the request again, once. Nothing by default.
    fn prepare(
        &self,
        regions: Regions<'_>,
        config: &ReadConfig,
    ) -> impl Future<Output = Result<(), OpenError>> + Send {
        let _ = (regions, config);
        std::future::ready(Ok(()))
    }
}

/// The regions a planned body reads, in order (see [`RegionReader::prepare`]).
#[derive(Debug, Clone)]
pub struct Regions<'a> {
    segments: std::slice::Iter<'a, Segment>,
}

impl<'a> Regions<'a> {
    /// The regions among `segments`.
    pub fn new(segments: &'a [Segment]) -> Self {
        Self {
            segments: segments.iter(),
        }
    }
}

impl Iterator for Regions<'_> {
    type Item = Region;

    fn next(&mut self) -> Option<Region> {
        self.segments.find_map(|segment| match segment {
            Segment::Region(region) => Some(*region),
            Segment::Bytes(_) => None,
        })
    }
}

/// How a body wants its regions read.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    frame_size: usize,
    read_ahead: usize,
    budget: Option<ReadAheadBudget>,
}

impl ReadConfig {
    /// Frames of `frame_size` bytes (at least 1), at most `read_ahead` of them read ahead of
    /// the client, each taken from `budget` when there is one.
    pub fn new(frame_size: usize, read_ahead: usize, budget: Option<ReadAheadBudget>) -> Self {
        Self {
            frame_size: frame_size.max(1),
            read_ahead,
            budget,
        }
    }

    /// The size of every frame but the last of a region.
    pub fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// The most frames a region's stream may hold ahead of what the client has taken.
    pub fn read_ahead(&self) -> usize {
        self.read_ahead
    }

    /// The budget frames read ahead are taken from, if any.
    pub fn budget(&self) -> Option<&ReadAheadBudget> {
        self.budget.as_ref()
    }
}
