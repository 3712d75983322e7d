//! gcbridge under AWS Lambda: the same router as `gcbridge serve` (`gcbridge_app::server::router`)
//! behind `lambda_http`, which turns API Gateway REST (v1), HTTP API (v2) and Function URL events
//! into HTTP requests and the router's responses back into the event's answer format.
//!
//! The shell adds only what Lambda needs: secrets given as Secrets Manager / Parameter Store
//! references resolved once per cold start ([`secrets`]), a configuration check that refuses
//! what cannot work on Lambda such as the embedded store ([`startup`]), and routing on the
//! stage-relative path ([`paths`]). It must not contain turn logic: that is `gcbridge-app`'s.

use std::sync::Arc;

use gcbridge_app::AppState;
use lambda_http::Request;
use tower::ServiceBuilder;
use tower::util::MapRequest;

pub mod paths;
pub mod secrets;
pub mod startup;

/// The service the Lambda runtime calls for each HTTP event.
pub type LambdaService = MapRequest<axum::Router, fn(Request) -> Request>;

/// gcbridge's router, routing on the stage-relative path.
pub fn service(state: Arc<AppState>) -> LambdaService {
    ServiceBuilder::new()
        .map_request(paths::stage_relative as fn(Request) -> Request)
        .service(gcbridge_app::server::router(state))
}
