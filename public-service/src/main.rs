#[tokio::main]
async fn main() -> std::process::ExitCode {
    public_service::admin::main_from_process().await
}
