//! "A session, as the wire sees it": one reader's walk through the API, each exchange shown.

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use support::narrate::Narrator;
use support::transcript::Recorder;

use super::Context;

/// What the walk-through saw.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Every exchange's status, in order, with what it was.
    pub steps: Vec<(String, u16)>,
    /// Articles in the reader's feed after following one author.
    pub feed_count: i64,
    /// Whether the top list's second read in the walk came from the cache.
    pub second_top_from_cache: bool,
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Session> {
    n.section("A session, as the wire sees it");
    n.say(
        "A new reader registers, logs in, writes an article, follows the most prolific author, \
         reads the feed, favourites an article and asks for the top list twice. Bodies are cut \
         short; the token is shown only as its scheme and as `<token>` in the bodies that carry it.",
    );
    let recorder = Recorder::new(ctx.client.clone(), ctx.server.base_url.clone())
        .show("link")
        .show("x-cache");
    let name = format!("reader{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let mut steps = Vec::new();
    let mut step = |label: &str, exchange: &support::transcript::Exchange, n: &mut Narrator| {
        n.transcript(exchange.lines.iter().map(|l| hide_token(l)).collect());
        steps.push((label.to_owned(), exchange.status.as_u16()));
    };

    let user = json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "correct horse battery"}});
    let registered = recorder
        .exchange(recorder.request(Method::POST, "/api/users").json(&user))
        .await?;
    step("register", &registered, n);
    let login = json!({"user": {"email": format!("{name}@example.com"), "password": "correct horse battery"}});
    let logged_in = recorder
        .exchange(
            recorder
                .request(Method::POST, "/api/users/login")
                .json(&login),
        )
        .await?;
    step("login", &logged_in, n);
    let token = json_of(&logged_in.body)["user"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let auth = format!("Token {token}");
    let article = json!({"article": {"title": "What I learned today", "description": "Caches", "body": "Invalidate on write.", "tagList": ["caching", "rust"]}});
    let created = recorder
        .exchange(
            recorder
                .request(Method::POST, "/api/articles")
                .header("Authorization", &auth)
                .json(&article),
        )
        .await?;
    step("write an article", &created, n);
    let followed = recorder
        .exchange(
            recorder
                .request(Method::POST, "/api/profiles/user1/follow")
                .header("Authorization", &auth),
        )
        .await?;
    step("follow user1", &followed, n);
    let feed = recorder
        .exchange(
            recorder
                .request(Method::GET, "/api/articles/feed?limit=2")
                .header("Authorization", &auth),
        )
        .await?;
    step("read the feed", &feed, n);
    let feed_count = json_of(&feed.body)["articlesCount"].as_i64().unwrap_or(0);
    let favorite = recorder
        .exchange(
            recorder
                .request(Method::POST, "/api/articles/article-1/favorite")
                .header("Authorization", &auth),
        )
        .await?;
    step("favourite article-1", &favorite, n);
    let first_top = recorder
        .exchange(recorder.request(Method::GET, "/api/articles/top"))
        .await?;
    step("top list (after the favourite)", &first_top, n);
    let second_top = recorder
        .exchange(recorder.request(Method::GET, "/api/articles/top"))
        .await?;
    step("top list again", &second_top, n);
    let figures = Session {
        steps,
        feed_count,
        second_top_from_cache: second_top.header("x-cache") == "hit",
    };
    n.say(&format!(
        "The feed holds {} articles by the followed author (the `Link` header points at the next \
         page by cursor). The favourite invalidated the top list, so its first read was computed \
         (`X-Cache: {}`) and the second {}.",
        figures.feed_count,
        first_top.header("x-cache"),
        if figures.second_top_from_cache {
            "came from the cache"
        } else {
            "was computed again"
        },
    ));
    n.figures(&figures)?;
    Ok(figures)
}

/// A line with the token's value replaced by `<token>`: a transcript is for reading, and a live
/// credential has no business in a terminal's scrollback or a saved report.
fn hide_token(line: &str) -> String {
    const FIELD: &str = "\"token\":\"";
    let Some(start) = line.find(FIELD).map(|i| i + FIELD.len()) else {
        return line.to_owned();
    };
    // The value ends at its closing quote, or where the transcript cut the body short.
    let rest = &line[start..];
    let end = rest.find(['"', '…']).unwrap_or(rest.len());
    format!("{}<token>{}", &line[..start], &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::hide_token;

    #[test]
    fn a_token_in_a_body_is_hidden_whole_or_cut_short() {
        assert_eq!(
            hide_token(r#"< {"user":{"token":"eyJ.abc.def","bio":null}}"#),
            r#"< {"user":{"token":"<token>","bio":null}}"#
        );
        assert_eq!(
            hide_token(r#"< {"user":{"token":"eyJ.ab… (251 bytes)"#),
            r#"< {"user":{"token":"<token>… (251 bytes)"#
        );
        assert_eq!(
            hide_token("> authorization: Token …"),
            "> authorization: Token …"
        );
    }
}
