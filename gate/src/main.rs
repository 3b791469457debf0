#[tokio::main]
async fn main() -> std::process::ExitCode {
    gate::serve_from_env().await
}
