//! The private app's `main`, built by this package so its tests can run it
//! as a separate process (the Cloud Run rehearsal) at a path Cargo provides.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    private_service::startup::serve_from_env().await
}
