//! Claims about the document model (PostgreSQL `JSONB` standing in for MongoDB): its answers
//! equal brute force over the data set, the embedded array keeps its cap, the GIN index serves
//! nested-field queries, and its writes are atomic.
//!
//! Each test loads a small data set into a database of its own, dropped afterwards, so the tests
//! run in parallel. Without PostgreSQL they print why they are skipped (and fail under
//! `BF_REQUIRE_SERVICES=1`).

use std::collections::HashSet;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use sql_vs_nosql::document::{
    DocumentStore, GIN_INDEX, Lookup, RECENT_POSTS_CAP, SeqScan, UserFilter,
};
use sql_vs_nosql::model::{NewPost, PostId, UserId};
use sql_vs_nosql::seed::{self, Dataset, Sizes};
use sql_vs_nosql::store::{SocialStore, StoreError};
use support::Service;
use support::testkit::{TestDatabase, require};

/// Small enough to load in well under a second, big enough that some authors have more posts
/// than the embedded cap (user 1 writes about fifty) and some posts are liked by many.
const SMALL: Sizes = Sizes {
    users: 60,
    posts: 400,
    likes: 1_500,
    follows_per_user: 6,
};

/// A database of its own holding [`SMALL`], the store over it, and the data set it holds.
struct Seeded {
    store: DocumentStore,
    data: Dataset,
    db: TestDatabase,
}

async fn seeded(label: &str) -> anyhow::Result<Option<Seeded>> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(None);
    };
    let db = TestDatabase::create_async(&url, label).await?;
    let store = DocumentStore::connect(&db.url, 2).await?;
    let data = seed::generate(SMALL);
    store.load(&data, &|_| {}).await?;
    Ok(Some(Seeded { store, data, db }))
}

/// A user with more posts than the cap, and one with fewer than the cap but some.
fn prolific_and_quiet(data: &Dataset) -> (UserId, UserId) {
    let count = |u: UserId| data.posts.iter().filter(|p| p.author == u).count();
    let prolific = data.users.iter().map(|u| u.id).max_by_key(|u| count(*u));
    let quiet = data
        .users
        .iter()
        .map(|u| u.id)
        .find(|u| (1..RECENT_POSTS_CAP / 2).contains(&count(*u)));
    (prolific.unwrap_or(1), quiet.unwrap_or(2))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A count straight from the database, past the store, for claims about what is stored.
async fn count(url: &str, sql: &str) -> anyhow::Result<i64> {
    // Imported here only: its blanket `load` would shadow `SocialStore::load` everywhere else.
    use diesel_async::RunQueryDsl as _;
    let mut conn = AsyncPgConnection::establish(url).await?;
    let row: Count = diesel::sql_query(sql).get_result(&mut conn).await?;
    Ok(row.n)
}

#[tokio::test]
async fn seeded_reports_nothing_before_a_load_and_the_sizes_after() -> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    let db = TestDatabase::create_async(&url, "doc_seeded").await?;
    let store = DocumentStore::connect(&db.url, 2).await?;
    assert_eq!(store.seeded().await?, None);

    let data = seed::generate(SMALL);
    let progress = std::sync::Mutex::new(Vec::new());
    store
        .load(&data, &|n| progress.lock().unwrap().push(n))
        .await?;

    assert_eq!(store.seeded().await?, Some(SMALL));
    let progress = progress.into_inner().unwrap();
    let records = data.users.len() + data.follows.len() + data.posts.len() + data.likes.len();
    assert_eq!(progress.last().copied(), Some(records as u64));
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    Ok(())
}

#[tokio::test]
async fn the_embedded_profile_equals_the_answer_computed_from_the_data_set() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_profile").await? else {
        return Ok(());
    };
    for user in &s.data.users {
        let profile = s.store.profile(user.id, RECENT_POSTS_CAP).await?;
        assert_eq!(&profile.user, user);
        assert_eq!(
            profile.posts,
            crate::common::reference::profile_posts(&s.data, user.id, RECENT_POSTS_CAP),
            "user {}",
            user.id
        );
        assert_eq!(s.store.user(user.id).await?, *user);
    }
    // Past the cap the profile falls back to a query on the post documents; same answer.
    let (prolific, _) = prolific_and_quiet(&s.data);
    let long = s.store.profile(prolific, 100).await?;
    assert!(long.posts.len() > RECENT_POSTS_CAP, "{}", long.posts.len());
    assert_eq!(
        long.posts,
        crate::common::reference::profile_posts(&s.data, prolific, 100)
    );
    Ok(())
}

#[tokio::test]
async fn the_home_feed_equals_brute_force() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_feed").await? else {
        return Ok(());
    };
    for user in &s.data.users {
        for limit in [1, 20, 100] {
            assert_eq!(
                s.store.home_feed(user.id, limit).await?,
                crate::common::reference::home_feed(&s.data, user.id, limit),
                "user {}, limit {limit}",
                user.id
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn top_posts_equal_brute_force_with_ties_by_lower_id() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_top").await? else {
        return Ok(());
    };
    for limit in [1, 10, 100] {
        assert_eq!(
            s.store.top_posts(limit).await?,
            crate::common::reference::top_posts(&s.data, limit),
            "limit {limit}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn friends_of_friends_and_reachability_equal_brute_force() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_graph").await? else {
        return Ok(());
    };
    for user in &s.data.users {
        assert_eq!(
            s.store.friends_of_friends(user.id).await?,
            crate::common::reference::friends_of_friends(&s.data, user.id),
            "user {}",
            user.id
        );
    }
    for user in [1, 7, 30, 60] {
        for hops in 0..=3 {
            assert_eq!(
                s.store.reachable_within(user, hops).await?,
                crate::common::reference::reachable_within(&s.data, user, hops),
                "user {user}, {hops} hops"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn liked_alike_equals_brute_force() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_alike").await? else {
        return Ok(());
    };
    for user in &s.data.users {
        assert_eq!(
            s.store.liked_alike(user.id, 10).await?,
            crate::common::reference::liked_alike(&s.data, user.id, 10),
            "user {}",
            user.id
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_new_post_is_embedded_first_and_the_array_never_exceeds_its_cap() -> anyhow::Result<()> {
    let Some(mut s) = seeded("doc_create").await? else {
        return Ok(());
    };
    let (prolific, quiet) = prolific_and_quiet(&s.data);
    let before = s.store.user_doc(quiet).await?;
    let last = s.data.last_post_at();
    for i in 0..RECENT_POSTS_CAP + 5 {
        let post = s
            .store
            .create_post(&NewPost {
                author: quiet,
                body: format!("new post {i}"),
                created_at: last + 1 + i as i64,
            })
            .await?;
        assert_eq!(
            post.id,
            SMALL.posts + 1 + i as i64,
            "the ids continue the sequence"
        );
        let doc = s.store.user_doc(quiet).await?;
        assert!(doc.recent_posts.len() <= RECENT_POSTS_CAP);
        assert_eq!(doc.recent_posts[0].id, post.id);
        assert_eq!(doc.post_count, before.post_count + 1 + i as i64);
        s.data.posts.push(post);
    }
    assert_eq!(
        s.store.user_doc(quiet).await?.recent_posts.len(),
        RECENT_POSTS_CAP
    );

    // A post dated before everything embedded falls off the end: it is not among the newest.
    let old = s
        .store
        .create_post(&NewPost {
            author: prolific,
            body: "backdated".into(),
            created_at: seed::EPOCH_MS - 1,
        })
        .await?;
    s.data.posts.push(old.clone());
    let doc = s.store.user_doc(prolific).await?;
    assert_eq!(doc.recent_posts.len(), RECENT_POSTS_CAP);
    assert!(doc.recent_posts.iter().all(|p| p.id != old.id));

    // Whatever the order of writes, the embedded page equals the query over all posts.
    for user in [quiet, prolific] {
        for limit in [RECENT_POSTS_CAP, 100] {
            assert_eq!(
                s.store.profile(user, limit).await?.posts,
                crate::common::reference::profile_posts(&s.data, user, limit)
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_nested_field_containment_query_uses_the_gin_index() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_gin").await? else {
        return Ok(());
    };
    let city = seed::CITIES[0];
    let filter = UserFilter::City(city);
    // A table of 60 documents is cheapest to scan, so the test discourages the scan to see
    // whether the index can serve the query at all.
    let plan = s
        .store
        .explain_find_users(filter, Lookup::Containment, SeqScan::Discouraged)
        .await?;
    assert!(plan.contains(GIN_INDEX), "{plan}");
    let extracted = s
        .store
        .explain_find_users(filter, Lookup::ExtractedField, SeqScan::Discouraged)
        .await?;
    assert!(!extracted.contains(GIN_INDEX), "{extracted}");

    let expected: Vec<UserId> = s
        .data
        .users
        .iter()
        .filter(|u| u.city == city)
        .map(|u| u.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        s.store.find_users(filter, Lookup::Containment).await?,
        expected
    );
    assert_eq!(
        s.store.find_users(filter, Lookup::ExtractedField).await?,
        expected
    );
    let handle = UserFilter::Handle("user7");
    assert_eq!(s.store.find_users(handle, Lookup::Containment).await?, [7]);
    assert_eq!(
        s.store.find_users(handle, Lookup::ExtractedField).await?,
        [7]
    );
    Ok(())
}

#[tokio::test]
async fn adding_a_post_field_rewrites_every_post_document_and_the_answers_stay_the_same()
-> anyhow::Result<()> {
    let Some(s) = seeded("doc_schema").await? else {
        return Ok(());
    };
    let (prolific, _) = prolific_and_quiet(&s.data);
    let top = s.store.top_posts(20).await?;
    let feed = s.store.home_feed(1, 20).await?;
    let profile = s.store.profile(prolific, 100).await?;

    let change = s.store.add_post_field().await?;
    assert_eq!(change.rewritten, SMALL.posts as u64);
    let with_lang = r#"SELECT count(*) AS n FROM post_docs WHERE doc @> '{"lang": "en"}'"#;
    assert_eq!(count(&s.db.url, with_lang).await?, SMALL.posts);
    assert_eq!(s.store.top_posts(20).await?, top);
    assert_eq!(s.store.home_feed(1, 20).await?, feed);
    assert_eq!(s.store.profile(prolific, 100).await?, profile);

    s.store.drop_post_field().await?;
    let lang_key = "SELECT count(*) AS n FROM post_docs WHERE doc ? 'lang'";
    assert_eq!(count(&s.db.url, lang_key).await?, 0);
    assert_eq!(s.store.top_posts(20).await?, top);
    Ok(())
}

#[tokio::test]
async fn liking_twice_counts_once_even_when_both_arrive_at_once() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_like").await? else {
        return Ok(());
    };
    // A post nobody has liked yet, and a user.
    let liked: HashSet<PostId> = s.data.likes.iter().map(|(_, p)| *p).collect();
    let post = s
        .data
        .posts
        .iter()
        .map(|p| p.id)
        .find(|p| !liked.contains(p))
        .unwrap_or(SMALL.posts);
    let user = 5;

    s.store.like(user, post).await?;
    s.store.like(user, post).await?;
    let doc = s.store.post_doc(post).await?.expect("the post exists");
    assert_eq!((doc.likes, doc.liked_by.clone()), (1, vec![user]));
    let mine = s.store.user_doc(user).await?.liked;
    assert_eq!(mine.iter().filter(|p| **p == post).count(), 1);

    // Two likes in flight at once on two connections: the second re-checks after the first
    // commits, and matches nothing.
    let other = 6;
    let (a, b) = tokio::join!(s.store.like(other, post), s.store.like(other, post));
    a?;
    b?;
    let doc = s.store.post_doc(post).await?.expect("the post exists");
    assert_eq!((doc.likes, doc.liked_by), (2, vec![user, other]));
    let theirs = s.store.user_doc(other).await?.liked;
    assert_eq!(theirs.iter().filter(|p| **p == post).count(), 1);
    Ok(())
}

#[tokio::test]
async fn an_unknown_user_or_post_is_not_found_and_writes_nothing() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_unknown").await? else {
        return Ok(());
    };
    let nobody = SMALL.users + 1;
    let is_missing_user = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { what: "user", id }) if id == nobody);
    assert!(is_missing_user(s.store.user(nobody).await.map(drop)));
    assert!(is_missing_user(s.store.profile(nobody, 20).await.map(drop)));
    assert!(is_missing_user(
        s.store.home_feed(nobody, 20).await.map(drop)
    ));
    assert!(is_missing_user(
        s.store.friends_of_friends(nobody).await.map(drop)
    ));
    assert!(is_missing_user(
        s.store.reachable_within(nobody, 0).await.map(drop)
    ));
    assert!(is_missing_user(
        s.store.reachable_within(nobody, 2).await.map(drop)
    ));
    assert!(is_missing_user(
        s.store.liked_alike(nobody, 10).await.map(drop)
    ));

    let post = 1;
    let before = s.store.post_doc(post).await?;
    assert!(is_missing_user(s.store.like(nobody, post).await));
    assert_eq!(s.store.post_doc(post).await?, before);

    let user = 1;
    let before = s.store.user_doc(user).await?;
    let ghost = SMALL.posts + 1;
    assert!(matches!(
        s.store.like(user, ghost).await,
        Err(StoreError::NotFound { what: "post", id }) if id == ghost
    ));
    assert_eq!(s.store.user_doc(user).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_post_by_an_unknown_author_leaves_no_post_document_behind() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_orphan").await? else {
        return Ok(());
    };
    let nobody = SMALL.users + 1;
    let refused = s
        .store
        .create_post(&NewPost {
            author: nobody,
            body: "from nowhere".into(),
            created_at: s.data.last_post_at() + 1,
        })
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::NotFound { what: "user", id }) if id == nobody
    ));
    let all = "SELECT count(*) AS n FROM post_docs";
    assert_eq!(count(&s.db.url, all).await?, SMALL.posts);

    // And no id was drawn for it: the next post continues the sequence without a gap.
    let next = s
        .store
        .create_post(&NewPost {
            author: 1,
            body: "from somewhere".into(),
            created_at: s.data.last_post_at() + 2,
        })
        .await?;
    assert_eq!(next.id, SMALL.posts + 1);
    Ok(())
}

#[tokio::test]
async fn the_demo_section_leaves_the_seeded_documents_as_it_found_them() -> anyhow::Result<()> {
    let Some(s) = seeded("doc_demo").await? else {
        return Ok(());
    };
    let sizes = s.store.document_sizes().await?;
    let author = s.store.user_doc(1).await?;
    let largest = s.store.post_doc(sizes.largest_post.id).await?;
    let top = s.store.top_posts(20).await?;
    let args = support::demo::DemoArgs {
        silent: true,
        ..Default::default()
    };
    let mut n = support::narrate::Narrator::new("sql-vs-nosql", "test", &args);

    let figures = sql_vs_nosql::demo::documents::run(&mut n, &s.store, true).await?;

    assert_eq!(s.store.user_doc(1).await?, author);
    assert_eq!(s.store.post_doc(sizes.largest_post.id).await?, largest);
    assert_eq!(s.store.top_posts(20).await?, top);
    assert_eq!(s.store.document_sizes().await?, sizes);
    let all = "SELECT count(*) AS n FROM post_docs";
    assert_eq!(count(&s.db.url, all).await?, SMALL.posts);
    let next = s
        .store
        .create_post(&NewPost {
            author: 2,
            body: "after the demo".into(),
            created_at: s.data.last_post_at() + 1,
        })
        .await?;
    assert_eq!(next.id, SMALL.posts + 1, "the sequence was rewound");
    // The figures are the ones the store reports, and the table made it into the report.
    assert_eq!(figures.sizes, sizes);
    assert_eq!(
        figures.city_matches,
        s.data
            .users
            .iter()
            .filter(|u| u.city == figures.city)
            .count()
    );
    assert_eq!(n.report().tables().count(), 1);
    Ok(())
}

#[tokio::test]
async fn deleting_a_post_removes_it_from_its_author_and_likers_and_refills_the_embedded_list()
-> anyhow::Result<()> {
    let Some(url) = support::testkit::require(support::Service::Postgres).await else {
        return Ok(());
    };
    let db = support::testkit::TestDatabase::create_async(&url, "doc_delete").await?;
    let store = sql_vs_nosql::document::DocumentStore::connect(&db.url, 2).await?;
    let data = crate::common::small();
    store.load(&data, &|_| {}).await?;
    let post = store
        .create_post(&sql_vs_nosql::model::NewPost {
            author: 1,
            body: "short-lived".to_owned(),
            created_at: data.last_post_at() + 1,
        })
        .await?;
    store.like(2, post.id).await?;
    store.delete_post(post.id).await?;
    assert_eq!(
        store.profile(1, 20).await?,
        crate::common::reference::profile(&data, 1, 20)
    );
    assert_eq!(
        store.liked_alike(2, 10).await?,
        crate::common::reference::liked_alike(&data, 2, 10)
    );
    assert!(store.post_doc(post.id).await?.is_none());
    Ok(())
}
