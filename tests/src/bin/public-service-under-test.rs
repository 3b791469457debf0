//! The public service's `main`, built by this package so its tests can run
//! it as a separate process (restarts, signals) at a path Cargo provides.
//! It takes the test host names as loopback, as the in-process services of
//! the tests do (`integration_tests::app::test_env`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let env = service_kit::config::Env::from_process()
        .with_loopback_names(&integration_tests::app::TEST_HOSTS);
    public_service::admin::main_with(env).await
}
