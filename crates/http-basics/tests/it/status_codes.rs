use http_basics::demo::status_tour as tour;

use crate::start;

/// The conformance walk: every status code the server uses, produced by a real request, with
/// the headers that status requires, errors as problem+json and no leaked internals. The demo
/// prints this same tour.
#[actix_web::test]
async fn every_status_code_comes_with_its_required_headers_and_a_problem_body() -> anyhow::Result<()>
{
    let config = tour::tour_config();
    let (server, client) = start(config.clone())?;

    let stops = tour::run(&client, &server.base_url, &config).await?;

    let mut statuses: Vec<u16> = stops.iter().map(|s| s.expected).collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(
        statuses,
        [
            200, 201, 204, 304, 400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 429, 500,
            503
        ]
    );
    for stop in &stops {
        assert!(
            stop.passed(),
            "{} {}: {stop:?}",
            stop.expected,
            stop.request
        );
    }
    Ok(())
}
