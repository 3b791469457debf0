//! Parts of a [`TestApp`] deployment going down and coming back: the
//! public service stopped and started again in this process (so its clock
//! stays the test's), the provider behind a proxy that can be cut, a fresh
//! instance of the app that has fetched no keys yet, and the public
//! service's binary run to its end (a configuration that stops it).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use super::{bind, spawn_app, AppContext, TestApp};
use crate::proxy::CuttableProxy;

impl TestApp {
    /// Stops the public service, in-process or child process; its port
    /// refuses connections until [`Self::start_public_service`].
    pub async fn stop_public_service(&self) {
        let handle = self.public_handle.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.stop(true).await;
        }
        self.child.lock().unwrap().take();
    }

    /// Starts the public service again in this process: same
    /// configuration, database, clock and port.
    pub async fn start_public_service(&self) {
        self.start_public_service_with(&[]).await;
    }

    /// An operator's redeploy: the public service stopped and started
    /// again in this process with `changes` to its variables, on the same
    /// database, clock and port (later restarts start from the original
    /// variables).
    pub async fn redeploy_public_service_with(&self, changes: &[(&str, &str)]) {
        self.stop_public_service().await;
        self.start_public_service_with(changes).await;
    }

    async fn start_public_service_with(&self, changes: &[(&str, &str)]) {
        let changes: Vec<(&str, String)> =
            changes.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let env = super::with_changes(self.public_env.clone(), &changes);
        let settings = public_service::settings::Settings::from_env(&super::test_env(env))
            .expect("the test environment is a valid configuration");
        let public = public_service::startup::Application::build_with(
            settings,
            Some(rebind(self.auth_addr)),
            Arc::new(self.public_clock.clone()),
        )
        .await
        .expect("the public service starts again");
        *self.public_handle.lock().unwrap() = Some(public.handle());
        tokio::spawn(public.run_until_stopped());
    }

    /// Another instance of the app (same URL and settings, as Cloud Run
    /// would add), started now, so it has fetched no keys yet. Returns its
    /// address.
    pub async fn spawn_app_instance(&self) -> SocketAddr {
        let listener = bind();
        let addr = listener.local_addr().unwrap();
        let context = AppContext {
            jwks_max_age: self.app_recipe.jwks_max_age,
            revocation_poll_interval: self.app_recipe.revocation_poll_interval,
            auth_url: &self.auth_url,
            auth_addr: self.auth_addr,
            provider: &self.provider,
            people: self.app_recipe.people.clone(),
            delivery: self.app_recipe.delivery,
            clock: Arc::new(self.public_clock.clone()),
            trusted_proxy_hops: 0,
            parent_domain: self.app_recipe.parent_domain,
            gate_upstream: None,
            gate_max_body_bytes: ::gate::settings::DEFAULT_MAX_BODY_BYTES,
        };
        spawn_app(
            listener,
            &self.app_url,
            &self.provider.metadata_url(),
            &context,
        )
        .await;
        addr
    }

    /// The proxy in front of the provider.
    pub fn provider_proxy(&self) -> &CuttableProxy {
        self.provider_proxy
            .as_ref()
            .expect("TestOptions::provider_behind_proxy was set")
    }

    /// Runs the public service's binary with this deployment's variables,
    /// `changes` applied, on a free port, and returns how it ended: `None`
    /// if it was still running after `limit` (it is then killed).
    pub async fn run_public_service_binary(
        &self,
        binary: &str,
        changes: &[(&str, &str)],
        limit: std::time::Duration,
    ) -> Option<std::process::Output> {
        let port = bind().local_addr().unwrap().port().to_string();
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(self.public_env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PORT", &port)
            .envs(changes.iter().copied())
            .kill_on_drop(true)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = command.spawn().expect("the public service binary starts");
        tokio::time::timeout(limit, child.wait_with_output())
            .await
            .ok()
            .map(|output| output.expect("the binary's output is readable"))
    }
}

/// A listener on `addr` again. `SO_REUSEADDR`: the stopped server's
/// connections may still hold the port in `TIME_WAIT`.
fn rebind(addr: SocketAddr) -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(addr)
        .expect("the public service's port is free");
    let listener = socket.listen(1024).expect("listening");
    listener.into_std().expect("a std listener")
}
