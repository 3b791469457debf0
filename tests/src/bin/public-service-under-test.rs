//! The public service's `main`, built by this package so its tests can run
//! it as a separate process (restarts, signals) at a path Cargo provides.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    public_service::admin::main_from_process().await
}
