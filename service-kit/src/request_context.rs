//! The request a thread is serving, for its log lines: a request id and
//! the trace id, set around each poll of the request's future.
//!
//! Every log line a request writes carries its `request_id` and trace. A
//! `tracing` span per request did that, at a cost every request paid even
//! when it wrote no line: the registry stores the span, and each formatter
//! copies its fields (the JSON layer into a map, the text one into a
//! string) whether or not a line follows. Here the request's ids sit in a
//! thread-local while its future is polled (actix runs a request's future
//! on one worker thread, and another request's may run between two polls,
//! hence set per poll), and the two formatters read them only when they
//! write a line. Spans stay for what is not a request.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// What every line of one request carries.
pub struct RequestContext {
    request_id: RequestId,
    trace: Option<String>,
}

impl RequestContext {
    /// A fresh request id, and `trace` (already checked, see
    /// [`crate::cloud_logging::trace_id`]).
    pub fn new(trace: Option<String>) -> Self {
        Self {
            request_id: RequestId::new(),
            trace,
        }
    }

    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RequestContext>>> = const { RefCell::new(None) };
}

/// Calls `f` with the request this thread is serving, if any.
pub fn current<R>(f: impl FnOnce(Option<&RequestContext>) -> R) -> R {
    CURRENT.with(|current| match current.try_borrow() {
        Ok(current) => f(current.as_deref()),
        // Only while a context is being swapped, which logs nothing.
        Err(_) => f(None),
    })
}

/// Runs `f` as part of `context`'s request.
pub fn within<R>(context: &Rc<RequestContext>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|current| current.replace(Some(context.clone())));
    // Put back even if `f` panics: the thread serves other requests.
    struct Restore(Option<Rc<RequestContext>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// A future that runs as part of a request: [`within`] around each poll.
pub struct InRequest<F> {
    context: Rc<RequestContext>,
    inner: F,
}

impl<F> InRequest<F> {
    pub fn new(context: Rc<RequestContext>, inner: F) -> Self {
        Self { context, inner }
    }
}

impl<F: Future + Unpin> Future for InRequest<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        within(&this.context, || Pin::new(&mut this.inner).poll(cx))
    }
}

/// 9 random bytes in base64url: unique enough to find a request's lines,
/// made without a system call or a heap allocation.
struct RequestId([u8; 12]);

impl RequestId {
    fn new() -> Self {
        let mut bytes = [0u8; 9];
        rand::thread_rng().fill_bytes(&mut bytes);
        let mut text = [0u8; 12];
        let written = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
        debug_assert_eq!(written.ok(), Some(12));
        Self(text)
    }

    fn as_str(&self) -> &str {
        // base64url is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_set_only_while_the_request_runs_and_nests() {
        let outer = Rc::new(RequestContext::new(None));
        let inner = Rc::new(RequestContext::new(Some("t".into())));
        assert!(current(|c| c.is_none()));
        within(&outer, || {
            assert_eq!(
                current(|c| c.map(|c| c.request_id().to_owned())).as_deref(),
                Some(outer.request_id())
            );
            within(&inner, || {
                assert_eq!(
                    current(|c| c.and_then(|c| c.trace().map(str::to_owned))).as_deref(),
                    Some("t")
                )
            });
            assert_eq!(
                current(|c| c.map(|c| c.request_id().to_owned())).as_deref(),
                Some(outer.request_id())
            );
        });
        assert!(current(|c| c.is_none()));
    }

    #[test]
    fn a_panic_inside_leaves_no_context_behind() {
        let context = Rc::new(RequestContext::new(None));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            within(&context, || panic!("boom"))
        }));
        assert!(caught.is_err());
        assert!(current(|c| c.is_none()));
    }

    #[test]
    fn two_requests_interleaved_on_one_thread_each_see_their_own() {
        use std::task::{Wake, Waker};
        struct Noop;
        impl Wake for Noop {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        let waker = Waker::from(std::sync::Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        // Each future yields once, then reports the request it ran in.
        let seen = || {
            let mut yielded = false;
            std::future::poll_fn(move |cx| {
                if !yielded {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(current(|c| c.map(|c| c.request_id().to_owned())))
            })
        };
        let (a, b) = (
            Rc::new(RequestContext::new(None)),
            Rc::new(RequestContext::new(None)),
        );
        let mut fa = InRequest::new(a.clone(), Box::pin(seen()));
        let mut fb = InRequest::new(b.clone(), Box::pin(seen()));
        assert!(Pin::new(&mut fa).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut fb).poll(&mut cx).is_pending());
        assert!(current(|c| c.is_none()));
        let Poll::Ready(from_a) = Pin::new(&mut fa).poll(&mut cx) else {
            panic!()
        };
        let Poll::Ready(from_b) = Pin::new(&mut fb).poll(&mut cx) else {
            panic!()
        };
        assert_eq!(from_a.as_deref(), Some(a.request_id()));
        assert_eq!(from_b.as_deref(), Some(b.request_id()));
        assert_ne!(a.request_id(), b.request_id());
    }
}
