//! A large upload streams through the gate in bounded memory. A binary of
//! its own, so that no other test's allocations share the process whose
//! peak resident memory it reads.

mod support;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::Stack;

const CHUNK: usize = 64 * 1024;
const UPLOAD: u64 = 64 * 1024 * 1024;
/// What the whole stack (client, gate, upstream) may add to its peak
/// while 64 MiB pass: a fraction of the upload, so buffering it whole
/// anywhere would fail.
const MAX_GROWTH_KIB: u64 = 24 * 1024;

/// 64 MiB in 64 KiB chunks of one shared buffer: the client holds no copy.
struct Zeros {
    left: u64,
    chunk: Bytes,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}

/// The process's peak resident memory so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

#[tokio::test]
async fn a_64_mib_upload_passes_in_bounded_memory() {
    let stack = Stack::start(&[("MAX_BODY_BYTES", "134217728")]).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Zeros>();
    // A first request warms up every connection and pool.
    let warm = http::Request::post(format!("http://{}/upload", stack.gate))
        .header("cookie", format!("__Host-handoff={}", stack.issuer.token()))
        .body(Zeros {
            left: CHUNK as u64,
            chunk: Bytes::from(vec![0u8; CHUNK]),
        })
        .unwrap();
    client
        .request(warm)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    stack.upstream.uploaded.store(0, Ordering::SeqCst);

    let before = peak_rss_kib();
    let request = http::Request::post(format!("http://{}/upload", stack.gate))
        .header("cookie", format!("__Host-handoff={}", stack.issuer.token()))
        .body(Zeros {
            left: UPLOAD,
            chunk: Bytes::from(vec![0u8; CHUNK]),
        })
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, UPLOAD.to_string().as_bytes());
    assert_eq!(stack.upstream.uploaded.load(Ordering::SeqCst), UPLOAD);
    let growth = peak_rss_kib().saturating_sub(before);
    assert!(
        growth < MAX_GROWTH_KIB,
        "the peak grew by {growth} KiB while 64 MiB passed"
    );
}
