use std::process::ExitCode;

use public_service::settings::Settings;
use public_service::startup::Application;
use shared::config::Env;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init("info");
    let settings = match Settings::from_env(&Env::from_process()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(e) => {
            eprintln!("start-up failed: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = application.port(), "public service listening");
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
