use std::process::ExitCode;

use private_service::settings::Settings;
use private_service::startup::Application;
use shared::config::Env;
use shared::service::{run, Stop};

#[tokio::main]
async fn main() -> ExitCode {
    run(async {
        let env = Env::from_process();
        shared::telemetry::init(&env, "info").map_err(Stop::Config)?;
        let settings = Settings::from_env(&env).map_err(Stop::Config)?;
        let application = Application::build(settings).await.map_err(Stop::Start)?;
        tracing::info!(port = application.port(), "private app listening");
        application.run_until_stopped().await.map_err(Stop::Serve)
    })
    .await
}
