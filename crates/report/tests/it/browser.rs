//! The page in a real browser, offline: headless Chromium with every road to the network closed
//! loads it from disk, and the DOM it rendered must hold every chart with its title and a plot
//! that has marks and a size. A screenshot is kept as CI's artefact.

use report::browser::Browser;

use crate::common::{build, expected, figure, fixture_paths, unescape};

/// This machine's Chromium, or `None` (the test is skipped, saying why) when it is absent; under
/// `BF_REQUIRE_SERVICES=1` an absent one fails the test instead.
fn browser() -> anyhow::Result<Option<Browser>> {
    match Browser::find() {
        Ok(browser) => Ok(Some(browser)),
        Err(e) if e.is_absent() => {
            support::testkit::present(Some(e.to_string()));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[test]
fn an_offline_browser_renders_every_expected_chart_with_its_title_and_a_plot() -> anyhow::Result<()>
{
    let Some(browser) = browser()? else {
        return Ok(());
    };
    let built = build(&fixture_paths())?;
    let dom = browser.dump_dom(&built.page)?;
    let charts = expected(&built.loaded);
    assert!(!charts.is_empty());
    for chart in &charts {
        let figure = figure(&dom, &chart.id)
            .ok_or_else(|| anyhow::anyhow!("{} is not in the rendered DOM", chart.id))?;
        let tag = &figure[..figure.find('>').unwrap_or(figure.len())];
        assert!(tag.contains("data-rendered=\"yes\""), "{}: {tag}", chart.id);
        assert!(
            unescape(figure).contains(&chart.title),
            "{}: title",
            chart.id
        );
    }

    // The artefact: where the demos' reports go, `$CARGO_TARGET_DIR/reports` or `target/reports`.
    let dir = report::run::default_dir(&report::run::workspace_root());
    std::fs::create_dir_all(&dir)?;
    let png = dir.join("report-test.png");
    browser.screenshot(&built.page, &png, (1400, 4000))?;
    let bytes = std::fs::read(&png)?;
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        png.display()
    );
    eprintln!("screenshot: {}", png.display());
    Ok(())
}

/// The offline flags, checked rather than trusted: a page asking for an image from a server on
/// loopback gets nothing, and the server never sees a connection.
#[test]
fn the_browser_reaches_no_server_not_even_on_loopback() -> anyhow::Result<()> {
    let Some(browser) = browser()? else {
        return Ok(());
    };
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    server.set_nonblocking(true)?;
    let port = server.local_addr()?.port();
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("reach.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:{port}/a.png\">\
             <img src=\"http://example.com/b.png\"></body></html>"
        ),
    )?;
    // The images are fetched (or refused) before the load event, and the DOM is dumped after it.
    let dom = browser.dump_dom(&page)?;
    assert!(dom.contains("a.png"), "the page did not load: {dom}");
    match server.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Ok((_, from)) => anyhow::bail!("the browser connected to the loopback server from {from}"),
        Err(e) => Err(e.into()),
    }
}
