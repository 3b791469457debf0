//! Log lines leave request handling through a buffer that a thread of its
//! own writes out in batches.
//!
//! Writing each request's line to stdout from the async workers cost a
//! system call per request, and with stdout a pipe whose reader falls
//! behind (a log agent) it would stall every request on that worker.
//! Now a line is appended to memory, and a writer thread sends what has
//! gathered every [`FLUSH_EVERY`]. Lines stay whole and in order. At most
//! [`MAX_PENDING`] bytes wait: past that, the logging thread writes itself,
//! as before, so a stuck reader slows requests rather than losing lines or
//! growing memory. [`LineBuffer::flush`] writes what is left at exit.
//!
//! A request's own lines must not wait for the writer thread, though: on
//! Cloud Run an instance gets CPU only while it serves a request
//! (<https://cloud.google.com/run/docs/configuring/billing-settings>), so
//! a line still in memory when the response leaves could stay there until
//! the next request, or be lost with the instance. The request-log
//! middleware calls [`LineBuffer::write_out_pending`] before the response
//! leaves; with many requests in flight one call writes out the lines of
//! all of them, and the others find nothing to do.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// How long a line may wait in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// The most bytes kept waiting.
pub const MAX_PENDING: usize = 1 << 20;

pub struct LineBuffer<W> {
    pending: Mutex<Vec<u8>>,
    /// Whether `pending` may hold bytes (read without taking its lock).
    has_pending: AtomicBool,
    out: Mutex<W>,
    max_pending: AtomicUsize,
}

impl<W: Write + Send + 'static> LineBuffer<W> {
    /// A buffer in front of `out`, with its writer thread running for as
    /// long as the buffer lives.
    pub fn start(out: W) -> Arc<Self> {
        let buffer = Self::unstarted(out, MAX_PENDING);
        let weak = Arc::downgrade(&buffer);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_periodically(weak));
        if spawned.is_err() {
            // Without the thread every line is written at once, as before.
            buffer.max_pending.store(0, Ordering::Relaxed);
        }
        buffer
    }

    fn unstarted(out: W, max_pending: usize) -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
            out: Mutex::new(out),
            max_pending: AtomicUsize::new(max_pending),
        })
    }

    /// Writes out every waiting line.
    pub fn flush(&self) -> io::Result<()> {
        let mut out = lock(&self.out);
        let batch = self.take_pending();
        out.write_all(&batch)?;
        out.flush()
    }

    /// Writes out the waiting lines, if there are any: what a request
    /// calls before its response leaves.
    pub fn write_out_pending(&self) -> io::Result<()> {
        if !self.has_pending.load(Ordering::Acquire) {
            return Ok(());
        }
        self.flush()
    }

    fn take_pending(&self) -> Vec<u8> {
        let mut pending = lock(&self.pending);
        self.has_pending.store(false, Ordering::Release);
        std::mem::take(&mut *pending)
    }

    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let mut pending = lock(&self.pending);
        if pending.len() + bytes.len() <= self.max_pending.load(Ordering::Relaxed) {
            pending.extend_from_slice(bytes);
            self.has_pending.store(true, Ordering::Release);
            return Ok(());
        }
        drop(pending);
        // The output lock first, as in `flush`: what waited goes out
        // before this line.
        let mut out = lock(&self.out);
        let batch = self.take_pending();
        out.write_all(&batch)?;
        out.write_all(bytes)?;
        out.flush()
    }
}

fn write_periodically<W: Write + Send + 'static>(buffer: Weak<LineBuffer<W>>) {
    loop {
        std::thread::sleep(FLUSH_EVERY);
        let Some(buffer) = buffer.upgrade() else {
            return;
        };
        // Nothing to report a failed write to but the log itself.
        let _ = buffer.flush();
    }
}

/// A `Write` handle on a shared [`LineBuffer`] (what a log layer holds).
pub struct LineWriter<W>(pub Arc<LineBuffer<W>>);

impl<W> Clone for LineWriter<W> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W: Write + Send + 'static> Write for LineWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes)?;
        Ok(bytes.len())
    }

    /// One append per formatted write, so that `writeln!` lines from
    /// several threads never interleave (as `Stdout` promised).
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        match args.as_str() {
            Some(text) => self.0.append(text.as_bytes()),
            None => self.0.append(args.to_string().as_bytes()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // Batching is the point; `LineBuffer::flush` is for exit.
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_from_several_threads_come_out_whole_and_each_threads_in_order() {
        let sink = Sink::default();
        let buffer = LineBuffer::unstarted(sink.clone(), 64);
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let mut writer = LineWriter(buffer.clone());
                scope.spawn(move || {
                    for i in 0..500 {
                        writeln!(writer, "thread {thread} line {i}").unwrap();
                    }
                });
            }
        });
        buffer.flush().unwrap();
        let text = sink.text();
        for thread in 0..2 {
            let prefix = format!("thread {thread} line ");
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix)?.parse().ok())
                .collect();
            assert_eq!(numbers, (0..500).collect::<Vec<_>>());
        }
        assert_eq!(text.lines().count(), 1000);
    }

    #[test]
    fn lines_wait_in_memory_until_written_out() {
        let sink = Sink::default();
        let buffer = LineBuffer::unstarted(sink.clone(), MAX_PENDING);
        writeln!(LineWriter(buffer.clone()), "one").unwrap();
        assert_eq!(sink.text(), "", "no write per line");
        buffer.flush().unwrap();
        assert_eq!(sink.text(), "one\n");
    }

    #[test]
    fn waiting_lines_are_written_out_when_a_request_asks_and_only_then() {
        let sink = Sink::default();
        let buffer = LineBuffer::unstarted(sink.clone(), MAX_PENDING);
        buffer.write_out_pending().unwrap();
        assert_eq!(sink.text(), "");
        writeln!(LineWriter(buffer.clone()), "one").unwrap();
        writeln!(LineWriter(buffer.clone()), "two").unwrap();
        assert_eq!(sink.text(), "");
        buffer.write_out_pending().unwrap();
        assert_eq!(sink.text(), "one\ntwo\n");
        buffer.write_out_pending().unwrap();
        assert_eq!(sink.text(), "one\ntwo\n", "nothing written twice");
    }

    #[test]
    fn the_writer_thread_sends_lines_without_being_asked() {
        let sink = Sink::default();
        let buffer = LineBuffer::start(sink.clone());
        writeln!(LineWriter(buffer.clone()), "sent").unwrap();
        for _ in 0..500 {
            if !sink.text().is_empty() {
                break;
            }
            std::thread::sleep(FLUSH_EVERY);
        }
        assert_eq!(sink.text(), "sent\n");
    }
}
