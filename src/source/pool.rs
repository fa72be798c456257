//! Recycled frame buffers.
//!
//! A frame handed to the server is a `Bytes` that owns its buffer; when the server has written
//! it and drops it, the buffer comes back here instead of to the allocator. So a stream costs
//! no allocation, no zeroing and no page fault per frame once it runs, and memory that a
//! burst of frames used is reused rather than fragmented.

use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

/// The smallest buffer class: 4 KiB.
const MIN_CLASS: u32 = 12;
/// The largest pooled class: 16 MiB; bigger frames are allocated and freed as usual.
const MAX_CLASS: u32 = 24;
/// How many bytes of free buffers each class keeps at most.
const KEPT_PER_CLASS: usize = 4 * 1024 * 1024;

/// The free buffers of one class.
type FreeList = Mutex<Vec<Box<[u8]>>>;

fn classes() -> &'static [FreeList] {
    static CLASSES: OnceLock<Vec<FreeList>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        (MIN_CLASS..=MAX_CLASS)
            .map(|_| Mutex::new(Vec::new()))
            .collect()
    })
}

/// The class of a buffer that holds `len` bytes: its capacity is `1 << class`.
fn class_of(len: usize) -> Option<u32> {
    let class = len
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_CLASS);
    (class <= MAX_CLASS).then_some(class)
}

/// A buffer of at least `len` bytes, initialized (recycled, or zeroed when new).
pub(crate) fn take(len: usize) -> Box<[u8]> {
    match class_of(len) {
        Some(class) => {
            let recycled = classes()[(class - MIN_CLASS) as usize]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop();
            recycled.unwrap_or_else(|| vec![0u8; 1 << class].into_boxed_slice())
        }
        None => vec![0u8; len].into_boxed_slice(),
    }
}

fn give_back(buffer: Box<[u8]>) {
    let len = buffer.len();
    if !len.is_power_of_two() {
        return;
    }
    let Some(class) = class_of(len) else {
        return;
    };
    let mut free = classes()[(class - MIN_CLASS) as usize]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if (free.len() + 1) * len <= KEPT_PER_CLASS {
        free.push(buffer);
    }
}

/// The first `len` bytes of a pooled buffer, as `Bytes` that return the buffer when dropped.
pub(crate) fn freeze(buffer: Box<[u8]>, len: usize) -> Bytes {
    Bytes::from_owner(Frame {
        buffer: Some(buffer),
        len,
    })
}

struct Frame {
    buffer: Option<Box<[u8]>>,
    len: usize,
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        match &self.buffer {
            Some(buffer) => &buffer[..self.len],
            None => &[],
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_in_power_of_two_classes() {
        assert_eq!(take(1).len(), 4096);
        assert_eq!(take(4097).len(), 8192);
        assert_eq!(take(65536).len(), 65536);
        assert_eq!(take(64 * 1024 * 1024).len(), 64 * 1024 * 1024);
    }

    #[test]
    fn a_dropped_frame_returns_its_buffer() {
        // A class no other test uses, so the pool's state is this test's.
        let mut buffer = take(3 * 1024 * 1024);
        buffer[0] = 42;
        let address = buffer.as_ptr();
        let frame = freeze(buffer, 10);
        assert_eq!(frame.len(), 10);
        assert_eq!(frame[0], 42);
        let slice = frame.slice(1..3);
        drop(frame);
        // Still referenced by the slice: not back yet.
        let other = take(3 * 1024 * 1024);
        assert_ne!(other.as_ptr(), address);
        drop(slice);
        let recycled = take(3 * 1024 * 1024);
        assert_eq!(recycled.as_ptr(), address);
        drop(other);
    }
}
