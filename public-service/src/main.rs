#[tokio::main]
async fn main() -> std::process::ExitCode {
    public_service::startup::serve_from_env().await
}
