//! Running independent pieces of work on scoped threads.

use std::sync::{Mutex, PoisonError};

/// Arrays smaller than this many elements are transformed on the calling thread: spawning
/// costs more than it saves.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

/// The number of worker threads to use: `requested`, or every available core.
pub(super) fn thread_count(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The threads to use for one array of `numel` elements when `threads` are available.
pub(crate) fn threads_for(numel: usize, threads: usize) -> usize {
    if numel < PARALLEL_MIN_ELEMENTS { 1 } else { threads }
}

/// How `threads` are spent on a batch of items of `item_len` elements each, as
/// `(across, within)`: small items are spread over the threads one item per thread at a
/// time, large items each use every thread in turn.
pub(crate) fn batch_threads(item_len: usize, threads: usize) -> (usize, usize) {
    let within = threads_for(item_len, threads);
    (if within == 1 { threads } else { 1 }, within)
}

/// How many pieces of work to cut a pass into for `threads` threads: one when single-threaded,
/// else several per thread, so that a thread that the OS deschedules on a busy machine holds
/// up only a small piece.
pub(super) fn pieces_for_threads(threads: usize) -> usize {
    if threads <= 1 { 1 } else { threads * PIECES_PER_THREAD }
}

/// See [`pieces_for_threads`].
const PIECES_PER_THREAD: usize = 8;

/// Calls `work` on every item, on at most `threads` scoped threads (one of them the caller's)
/// that take the items one at a time from a shared queue; each thread first makes its own
/// scratch state with `scratch`, which `work` then reuses for every item the thread takes.
pub(crate) fn for_each_item<W, S, M, F>(items: Vec<W>, threads: usize, scratch: M, work: F)
where
    W: Send,
    M: Fn() -> S + Sync,
    F: Fn(&mut S, W) + Sync,
{
    let workers = threads.clamp(1, items.len().max(1));
    if workers == 1 {
        let mut state = scratch();
        items.into_iter().for_each(|item| work(&mut state, item));
        return;
    }
    let queue = Mutex::new(items.into_iter());
    let run = || {
        let mut state = scratch();
        loop {
            // A statement of its own, so that the lock is released before `work` runs.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some(item) = next else { break };
            work(&mut state, item);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(run);
        }
        run();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_processed_once() {
        for threads in [1, 2, 3, 7, 20] {
            let seen = Mutex::new(Vec::new());
            let scratch_made = Mutex::new(0);
            let scratch = || *scratch_made.lock().unwrap() += 1;
            for_each_item((0..10).collect(), threads, scratch, |_, item: i32| {
                seen.lock().unwrap().push(item);
            });
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
            assert!(scratch_made.into_inner().unwrap() <= threads.min(10));
        }
    }

    #[test]
    fn items_run_concurrently() {
        // Each item signals the other and waits for its signal: only possible if both run at
        // the same time (a queue lock held while working would serialise them).
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let (to_a, from_b) = channel();
        let (to_b, from_a) = channel();
        let items = vec![(to_b, from_b), (to_a, from_a)];
        let met = Mutex::new(0);
        for_each_item(
            items,
            2,
            || (),
            |_, (send, receive)| {
                send.send(()).unwrap();
                if receive.recv_timeout(Duration::from_secs(10)).is_ok() {
                    *met.lock().unwrap() += 1;
                }
            },
        );
        assert_eq!(met.into_inner().unwrap(), 2);
    }
}
