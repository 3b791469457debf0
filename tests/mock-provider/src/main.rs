//! The mock provider as a process: `cargo run -p mock-provider`.

use std::process::ExitCode;

use mock_provider::MockProvider;

fn setting(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name}: is required but not set"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let port: u16 = match std::env::var("MOCK_PORT").ok().map(|p| p.parse()) {
        None => 9000,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("configuration error: MOCK_PORT: not a port number");
            return ExitCode::FAILURE;
        }
    };
    let settings = (|| {
        Ok::<_, String>((
            setting("MOCK_CLIENT_ID")?,
            setting("MOCK_CLIENT_SECRET")?,
            setting("MOCK_REDIRECT_URIS")?,
        ))
    })();
    let (client_id, secret, redirect_uris) = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let issuer =
        std::env::var("MOCK_ISSUER").unwrap_or_else(|_| format!("http://localhost:{port}"));
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let uris: Vec<&str> = redirect_uris.split(',').map(str::trim).collect();
    let provider = MockProvider::builder()
        .client(&client_id, &secret, &uris)
        .interactive(true)
        .issuer(&issuer)
        .listener(listener)
        .start()
        .await;
    match provider {
        Ok(provider) => {
            println!("mock provider: {}", provider.issuer());
            let _ = tokio::signal::ctrl_c().await;
            provider.stop().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the mock provider did not start: {e:#}");
            ExitCode::FAILURE
        }
    }
}
