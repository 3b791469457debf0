//! A request body on its way to the upstream, frame by frame: never held
//! whole, cut off at the size limit, and telling when it has been sent.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

/// The error every body of the gate carries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body passed more than the limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the gate's limit")]
pub struct TooLarge;

/// Wraps the client's body: counts its bytes against `limit`, and fires
/// `sent` when it ends (or is dropped unfinished) so that the upstream's
/// response time is counted from the end of the upload, not its start.
pub struct LimitedBody<B> {
    inner: B,
    remaining: u64,
    exceeded: Arc<AtomicBool>,
    sent: Option<oneshot::Sender<()>>,
}

impl<B> LimitedBody<B> {
    /// `exceeded` is set when the body passes `limit`.
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>, sent: oneshot::Sender<()>) -> Self {
        Self {
            inner,
            remaining: limit,
            exceeded,
            sent: Some(sent),
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                if let Some(sent) = this.sent.take() {
                    let _ = sent.send(());
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.sent.take();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.exceeded.store(true, Ordering::Relaxed);
                        this.sent.take();
                        return Poll::Ready(Some(Err(Box::new(TooLarge))));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body of chunks of the given sizes (kept last first, popped).
    struct Chunks(Vec<usize>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop()
                    .map(|n| Ok(Frame::data(Bytes::from(vec![0u8; n])))),
            )
        }
    }

    fn chunks(sizes: &[usize]) -> Chunks {
        Chunks(sizes.iter().rev().copied().collect())
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_whole_and_says_it_was_sent() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let body = LimitedBody::new(chunks(&[3, 4]), 7, exceeded.clone(), tx);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 7);
        assert!(!exceeded.load(Ordering::Relaxed));
        assert!(rx.await.is_ok(), "sent fires at the end");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_at_the_chunk_that_passes_it() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let mut body = LimitedBody::new(chunks(&[3, 4, 1]), 7, exceeded.clone(), tx);
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_ok());
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.is::<TooLarge>());
        assert!(exceeded.load(Ordering::Relaxed));
        assert!(rx.await.is_err(), "an upload cut off was not sent");
    }
}
