//! [`CuttableProxy`]: a TCP relay on a loopback port, in front of a
//! database or the mock provider, that a test can take down and bring back.
//!
//! Cut, it stops listening (new connections are refused, as from a host
//! whose service is down) and closes the connections it was relaying (as
//! a crashed server's would be). Restored, it listens on the same port again,
//! so whatever was configured with its address reconnects unchanged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

pub struct CuttableProxy {
    addr: SocketAddr,
    target: SocketAddr,
    listening: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl CuttableProxy {
    /// A relay to `target` on a new loopback port, up.
    pub async fn to(target: SocketAddr) -> Self {
        // Below the ephemeral range: `restore` binds the same port again.
        let listener = crate::ports::listener();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("a free loopback port");
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            target,
            listening: Mutex::new(None),
            connections: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// A relay to the PostgreSQL server the tests use (port 5432).
    pub async fn to_postgres() -> Self {
        Self::to(SocketAddr::from(([127, 0, 0, 1], 5432))).await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Down: refuses new connections and closes the open ones.
    pub async fn cut(&self) {
        let accepting = self.listening.lock().unwrap().take();
        if let Some(task) = accepting {
            task.abort();
            // Awaiting the aborted task drops its listener: the port is closed
            // before this returns.
            let _ = task.await;
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Up again, on the same port.
    pub async fn restore(&self) {
        if self.listening.lock().unwrap().is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the proxy's port is free again");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let (target, connections) = (self.target, self.connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(relay.abort_handle());
            }
        });
        *self.listening.lock().unwrap() = Some(task);
    }
}
