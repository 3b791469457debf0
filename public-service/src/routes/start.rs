use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::pages::{render, StartPage};
use crate::state::AppState;

/// The start page: one button that signs in to the default app.
pub async fn start(state: web::Data<AppState>) -> HttpResponse {
    let app = state.apps.default_app();
    let mut login_url = url::Url::parse("http://x/login").expect("a valid constant URL");
    login_url
        .query_pairs_mut()
        .append_pair("return_to", app.origin_url().as_str());
    let login_url = format!("/login?{}", login_url.query().unwrap_or_default());
    render(
        StatusCode::OK,
        &StartPage {
            provider_name: &state.provider_name,
            app_name: app.audience(),
            login_url: &login_url,
            dev_mode: state.dev_mode,
        },
    )
}
