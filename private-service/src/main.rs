#[tokio::main]
async fn main() -> std::process::ExitCode {
    private_service::startup::serve_from_env().await
}
