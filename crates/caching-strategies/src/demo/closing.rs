//! What you just saw: the closing paragraph, built from the sections' figures alone. Every
//! sentence has wording for figures that go the other way (a busy machine can make a cache hit
//! slower than the store, a race can fail to open), so the text never claims what the run did
//! not measure.

use support::narrate::Narrator;

use super::RunFigures;
use super::across_instances::AcrossInstancesFigures;
use super::correctness::CorrectnessFigures;
use super::http::HttpFigures;
use super::memcached_vs_redis::MemcachedVsRedisFigures;
use super::redis_lost::RedisLostFigures;
use super::speed::SpeedFigures;
use super::stampede::StampedeFigures;

/// Below this ratio a Redis tier hit is a bare `GET` plus noise.
const DECODING_IS_NOISE: f64 = 1.10;
/// The goal the issue set: a Redis hit within this factor of a bare `GET`.
const REDIS_HIT_GOAL: f64 = 1.30;

/// Advice, not a measurement: the lesson the sections add up to.
const RECOMMENDATION: &str = "Recommendation: cache-aside with TTL jitter and versioned fills as \
    the default, read-through (coalescing) for expensive keys, moka for hot read-mostly data and \
    two-tier with pub/sub when there are several instances, write-through when reads must see the \
    last write, write-back only for data you can afford to lose; and ETags on everything a client \
    may read twice.";

pub fn run(n: &mut Narrator, figures: &RunFigures) {
    n.section("What you just saw");
    n.say(&paragraph(figures));
    n.say(RECOMMENDATION);
}

/// The closing paragraph, one sentence per section.
pub fn paragraph(f: &RunFigures) -> String {
    [
        speed_sentence(&f.speed),
        stampede_sentence(&f.stampede),
        correctness_sentence(&f.correctness),
        instances_sentence(f.across_instances.as_ref()),
        redis_lost_sentence(f.redis_lost.as_ref()),
        http_sentence(&f.http),
        memcached_sentence(&f.speed, f.memcached_vs_redis.as_ref()),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
}

/// `12× faster`, `1.4× slower`.
fn faster(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r >= 10.0 => format!("{r:.0}× faster"),
        Some(r) if r >= 1.0 => format!("{r:.1}× faster"),
        Some(r) if r > 0.0 => format!("{:.1}× slower", 1.0 / r),
        _ => "not measurably different".to_owned(),
    }
}

fn speed_sentence(speed: &SpeedFigures) -> String {
    let costs = &speed.hit_costs;
    let ns = costs.moka_hit.p50_us * 1e3;
    let moka = if ns < 1_000.0 {
        format!("A moka hit cost {ns:.0} ns inside the process (under a microsecond)")
    } else {
        format!("A moka hit cost {ns:.0} ns inside the process (over a microsecond this run)")
    };
    let redis = match costs.redis_hit_vs_bare_get() {
        None => "; Redis was not part of this run".to_owned(),
        Some(r) if r < DECODING_IS_NOISE => format!(
            " and a Redis tier hit {r:.2}× a bare Redis GET on the same pool: the network hop is \
             the cost, decoding is within noise"
        ),
        Some(r) if r < REDIS_HIT_GOAL => format!(
            " and a Redis tier hit {r:.2}× a bare Redis GET on the same pool: the network hop is \
             most of the cost, decoding and the tier's bookkeeping added {:.0}%",
            (r - 1.0) * 100.0
        ),
        Some(r) => format!(
            " and a Redis tier hit {r:.2}× a bare Redis GET on the same pool: decoding and the \
             tier's bookkeeping added {:.0}% to the round trip, more than noise this run",
            (r - 1.0) * 100.0
        ),
    };
    format!(
        "{moka}{redis}. Served from moka by cache-aside, a post by id was {} at the median than \
         the store, and top posts {} than recomputing the aggregation.",
        faster(speed.post_speedup()),
        faster(speed.top_speedup()),
    )
}

/// How many loads each way, and whether coalescing made the difference this run.
fn stampede_sentence(stampede: &StampedeFigures) -> String {
    let ms = stampede.load_cost_ms;
    match (stampede.unprotected(), stampede.coalesced()) {
        (Some(plain), Some(coalesced)) if coalesced.db_loads < plain.db_loads => format!(
            "{} concurrent cold requests, each store read costing {ms:.0} ms more, made {} store \
             loads with plain cache-aside and {} with read-through's coalescing.",
            plain.requests, plain.db_loads, coalesced.db_loads
        ),
        (Some(plain), Some(coalesced)) => format!(
            "{} concurrent cold requests made {} store loads with plain cache-aside and {} with \
             read-through: coalescing saved nothing this run, because the requests did not overlap \
             the {ms:.0} ms load.",
            plain.requests, plain.db_loads, coalesced.db_loads
        ),
        _ => "The stampede section did not run.".to_owned(),
    }
}

fn correctness_sentence(c: &CorrectnessFigures) -> String {
    let wb = &c.write_back;
    let write_back = if wb.lost > 0 {
        format!(
            "The price: write-back acknowledged {} writes and lost {} of them when its flusher was \
             aborted ({} posts left behind in the store)",
            wb.acknowledged, wb.lost, wb.posts_behind
        )
    } else {
        format!(
            "The price: write-back acknowledged {} writes and lost none of them when its flusher \
             was aborted this run",
            wb.acknowledged
        )
    };
    let race = match (c.race_stale(), c.race_fixed()) {
        (true, true) => "plain cache-aside lost the forced race and the versioned fill refused \
                         the stale value"
            .to_owned(),
        (true, false) => "plain cache-aside lost the forced race and the versioned fill did not \
                          prevent it this run"
            .to_owned(),
        (false, true) => "the forced race left plain cache-aside fresh this run, and the \
                          versioned fill too"
            .to_owned(),
        (false, false) => "the forced race left the versioned fill stale and plain cache-aside \
                           fresh this run"
            .to_owned(),
    };
    let stale: Vec<String> = c
        .stale_reads
        .iter()
        .filter(|r| r.stale > 0)
        .map(|r| {
            format!(
                "{} / {} ({} of {})",
                r.tier.name(),
                r.strategy.name(),
                r.stale,
                r.reads
            )
        })
        .collect();
    let under_writer = if stale.is_empty() {
        "no strategy served a stale read under a concurrent writer".to_owned()
    } else {
        format!(
            "under a concurrent writer, stale reads came from {}",
            stale.join(", ")
        )
    };
    format!("{write_back}; {race}; {under_writer}.")
}

fn instances_sentence(instances: Option<&AcrossInstancesFigures>) -> String {
    let Some(i) = instances else {
        return "The cross-instance comparison needs Redis.".to_owned();
    };
    let (without, with) = (i.without_pubsub.old_value_ms, i.with_pubsub.old_value_ms);
    if with < without {
        format!(
            "Across two instances, B served the old value for {without:.0} ms without pub/sub and \
             {with:.1} ms with it."
        )
    } else {
        format!(
            "Across two instances, B served the old value for {without:.0} ms without pub/sub and \
             {with:.1} ms with it: pub/sub did not shorten it this run."
        )
    }
}

fn redis_lost_sentence(lost: Option<&RedisLostFigures>) -> String {
    let Some(lost) = lost else {
        return String::new();
    };
    let up = lost.reads.iter().find(|p| !p.redis_cut);
    let reads = match lost.reads.iter().find(|p| p.redis_cut) {
        Some(cut) if cut.errors == 0 => format!(
            "With Redis cut, every read still succeeded from the store, which took {} queries{}",
            cut.db_queries,
            up.map_or_else(String::new, |up| format!(
                " against {} for the same reads with Redis up",
                up.db_queries
            ))
        ),
        Some(cut) => format!(
            "With Redis cut, {} reads failed although the store was there",
            cut.errors
        ),
        None => "The reads with Redis cut did not run".to_owned(),
    };
    let stale = |journal: bool| {
        lost.writes
            .iter()
            .filter(|w| w.journal == journal && w.status == 200 && w.stale_reads > 0)
            .count()
    };
    let acknowledged = |journal: bool| {
        lost.writes
            .iter()
            .filter(|w| w.journal == journal && w.status == 200)
            .count()
    };
    format!(
        "{reads}; a write acknowledged during the outage was then served stale by {} of {} \
         strategies without the repair journal and by {} of {} with it.",
        stale(false),
        acknowledged(false),
        stale(true),
        acknowledged(true),
    )
}

fn http_sentence(http: &HttpFigures) -> String {
    match (http.client(true), http.client(false)) {
        (Some(revalidating), Some(plain)) if revalidating.body_bytes < plain.body_bytes => {
            format!(
                "Over HTTP, revalidation moved {} body bytes instead of {} ({} of its {} answers \
                 were 304s).",
                revalidating.body_bytes,
                plain.body_bytes,
                revalidating.not_modified,
                revalidating.oks + revalidating.not_modified
            )
        }
        (Some(revalidating), Some(plain)) => format!(
            "Over HTTP, revalidation moved {} body bytes against {} for the plain client: it \
             saved nothing this run.",
            revalidating.body_bytes, plain.body_bytes
        ),
        _ => String::new(),
    }
}

/// Memcached only from what this run measured of it; nothing when it was left out (the demo
/// said so where it started).
fn memcached_sentence(
    speed: &SpeedFigures,
    differences: Option<&MemcachedVsRedisFigures>,
) -> String {
    let costs = &speed.hit_costs;
    let Some(bare) = costs.bare_memcached_get else {
        return String::new();
    };
    let hit = match costs.memcached_hit_vs_bare_get() {
        Some(r) if r < DECODING_IS_NOISE => {
            format!("a tier hit cost {r:.2}× a bare get (decoding within noise)")
        }
        Some(r) => format!(
            "a tier hit cost {r:.2}× a bare get (decoding added {:.0}%)",
            (r - 1.0) * 100.0
        ),
        None => "a tier hit was not measured".to_owned(),
    };
    let against_redis = match costs.memcached_vs_redis_get() {
        // Outside the noise band either way: `faster` words the ratio as faster or slower.
        Some(q) if !(1.0 / DECODING_IS_NOISE..=DECODING_IS_NOISE).contains(&q) => format!(
            ", and its bare get ({:.1} µs) was {} than Redis's GET (each through its own \
             client and pool)",
            bare.p50_us,
            faster(Some(1.0 / q))
        ),
        Some(_) => format!(
            ", and its bare get ({:.1} µs) cost about what Redis's GET did: on loopback both are \
             one round trip",
            bare.p50_us
        ),
        None => String::new(),
    };
    let store = speed.posts_by_id.iter().find(|r| r.is_baseline());
    let over = speed.posts_by_id.iter().find(|r| {
        r.tier == Some(crate::app::TierKind::Memcached)
            && r.strategy == Some(crate::app::StrategyKind::CacheAside)
    });
    let post = match (store, over) {
        (Some(store), Some(over)) if over.p50_us > 0.0 => format!(
            "; cache-aside over Memcached served a post by id {} at the median than the store, \
             with {} store queries instead of {}",
            faster(Some(store.p50_us / over.p50_us)),
            over.db_queries,
            store.db_queries
        ),
        _ => String::new(),
    };
    let facts = differences.map_or_else(String::new, |d| {
        let m = &d.memcached;
        let size = if m.over_limit_refused {
            format!("refused a {}-byte value", m.item_size_max + 1)
        } else {
            format!(
                "stored a {}-byte value, over the item_size_max it reported",
                m.item_size_max + 1
            )
        };
        let redis = match d.redis.as_ref().and_then(|r| r.over_memcached_limit_stored) {
            Some(_) if m.over_limit_refused => " that Redis stored",
            _ => "",
        };
        let restart = if m.keys_after_restart == 0 {
            format!(
                "kept none of {} keys across a restart",
                m.keys_before_restart
            )
        } else {
            format!(
                "kept {} of {} keys across a restart",
                m.keys_after_restart, m.keys_before_restart
            )
        };
        format!(" Memcached {size}{redis} and {restart}.")
    });
    format!("On Memcached, {hit}{against_redis}{post}.{facts}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{StrategyKind, TierKind};
    use crate::demo::across_instances::Staleness;
    use crate::demo::correctness::{RaceRow, StaleReads, WriteBackAbort};
    use crate::demo::http::ClientRow;
    use crate::demo::memcached_vs_redis::{MemcachedFacts, RedisFacts};
    use crate::demo::redis_lost::{OutageWrite, ReadPhase};
    use crate::demo::speed::{Cost, HitCosts, ReadRow};
    use crate::demo::stampede::{Read, StampedeRow};

    fn cost(p50_us: f64) -> Cost {
        Cost {
            p50_us,
            p99_us: p50_us * 2.0,
        }
    }

    fn read_row(strategy: Option<StrategyKind>, p50_us: f64) -> ReadRow {
        ReadRow {
            tier: strategy.map(|_| TierKind::Moka),
            strategy,
            p50_us,
            p99_us: p50_us,
            throughput: 1.0,
            db_queries: 0,
            hit_ratio_percent: None,
        }
    }

    fn stampede_row(strategy: StrategyKind, db_loads: u64) -> StampedeRow {
        StampedeRow {
            tier: TierKind::Moka,
            strategy,
            read: Read::PostById,
            requests: 1_000,
            db_loads,
            p50_us: 1.0,
            p99_us: 1.0,
            wall_ms: 1.0,
        }
    }

    fn race_row(versioned: bool, stale: bool) -> RaceRow {
        RaceRow {
            tier: TierKind::Moka,
            versioned,
            reader_loaded: 1,
            writer_acknowledged: 2,
            cache_serves: if stale { 1 } else { 2 },
        }
    }

    fn outage(journal: bool, stale_reads: u64) -> OutageWrite {
        OutageWrite {
            strategy: StrategyKind::CacheAside,
            journal,
            status: 200,
            repairs_queued: usize::from(journal),
            stale_reads,
        }
    }

    fn client(revalidating: bool, body_bytes: u64) -> ClientRow {
        ClientRow {
            revalidating,
            p50_us: 1.0,
            oks: 10,
            not_modified: if revalidating { 90 } else { 0 },
            body_bytes,
        }
    }

    /// The figures a healthy run produces (`expected`), or the opposite of each (`!expected`).
    fn figures(expected: bool) -> RunFigures {
        let pick = |normal: f64, contrary: f64| if expected { normal } else { contrary };
        RunFigures {
            speed: SpeedFigures {
                posts_by_id: vec![
                    read_row(None, 200.0),
                    read_row(Some(StrategyKind::CacheAside), pick(2.0, 400.0)),
                    ReadRow {
                        tier: Some(TierKind::Memcached),
                        db_queries: 12,
                        ..read_row(Some(StrategyKind::CacheAside), pick(100.0, 500.0))
                    },
                ],
                top_posts: vec![
                    read_row(None, 50_000.0),
                    read_row(Some(StrategyKind::CacheAside), pick(2.0, 60_000.0)),
                ],
                hit_costs: HitCosts {
                    moka_hit: cost(pick(0.5, 3.0)),
                    moka_strategy_hit: cost(1.0),
                    bare_redis_get: Some(cost(100.0)),
                    redis_hit: Some(cost(pick(102.0, 180.0))),
                    redis_strategy_hit: Some(cost(110.0)),
                    store_post: cost(150.0),
                    store_top: cost(25_000.0),
                    bare_memcached_get: Some(cost(pick(75.0, 130.0))),
                    memcached_hit: Some(cost(pick(76.5, 200.0))),
                    memcached_strategy_hit: Some(cost(90.0)),
                },
                writes: Vec::new(),
            },
            stampede: StampedeFigures {
                load_cost_ms: 50.0,
                rows: vec![
                    stampede_row(StrategyKind::CacheAside, 1_000),
                    stampede_row(StrategyKind::ReadThrough, if expected { 1 } else { 1_000 }),
                ],
            },
            correctness: CorrectnessFigures {
                writes_per_post: 5,
                stale_reads: vec![StaleReads {
                    tier: TierKind::Redis,
                    strategy: StrategyKind::CacheAside,
                    reads: 100,
                    stale: if expected { 0 } else { 7 },
                }],
                top_after_like: Vec::new(),
                write_back: WriteBackAbort {
                    acknowledged: 50,
                    flushed: if expected { 30 } else { 50 },
                    lost: if expected { 20 } else { 0 },
                    posts_behind: if expected { 20 } else { 0 },
                },
                race: vec![race_row(false, expected), race_row(true, !expected)],
            },
            across_instances: Some(AcrossInstancesFigures {
                local_ttl_ms: 300.0,
                without_pubsub: Staleness {
                    old_value_ms: 300.0,
                    stale_reads: 100,
                },
                with_pubsub: Staleness {
                    old_value_ms: pick(4.0, 320.0),
                    stale_reads: 0,
                },
            }),
            redis_lost: Some(RedisLostFigures {
                reads: vec![
                    ReadPhase {
                        redis_cut: false,
                        p50_us: 1.0,
                        p99_us: 1.0,
                        errors: 0,
                        db_queries: 20,
                    },
                    ReadPhase {
                        redis_cut: true,
                        p50_us: 1.0,
                        p99_us: 1.0,
                        errors: if expected { 0 } else { 3 },
                        db_queries: 100,
                    },
                ],
                failures: 10,
                writes: vec![outage(false, 5), outage(true, if expected { 0 } else { 5 })],
            }),
            http: HttpFigures {
                revalidated_status: 304,
                after_update_status: 200,
                clients: vec![
                    client(false, 25_000),
                    client(true, if expected { 2_900 } else { 25_000 }),
                ],
            },
            memcached_vs_redis: Some(MemcachedVsRedisFigures {
                memcached: MemcachedFacts {
                    version: "1.6.18".to_owned(),
                    threads: 4,
                    limit_maxbytes: 64 << 20,
                    item_size_max: 1_048_576,
                    over_limit_refused: expected,
                    under_limit_stored: true,
                    evictions_on: true,
                    lru_crawler: true,
                    lru_segmented: true,
                    keys_before_restart: 100,
                    keys_after_restart: if expected { 0 } else { 100 },
                    subscribe_reply: "ERROR".to_owned(),
                },
                redis: Some(RedisFacts {
                    version: "7.0.15".to_owned(),
                    io_threads: Some(1),
                    aof_enabled: Some(false),
                    save: Some(String::new()),
                    role: Some("master".to_owned()),
                    connected_replicas: Some(0),
                    maxmemory_policy: Some("noeviction".to_owned()),
                    over_memcached_limit_stored: Some(1_048_577),
                }),
            }),
        }
    }

    #[test]
    fn the_closing_paragraph_says_what_the_figures_say_and_changes_when_they_go_the_other_way() {
        let normal = paragraph(&figures(true));
        let contrary = paragraph(&figures(false));

        for expected in [
            "(under a microsecond)",
            "the network hop is the cost, decoding is within noise",
            "a post by id was 100× faster",
            "top posts 25000× faster",
            "1000 store loads with plain cache-aside and 1 with read-through's coalescing",
            "lost 20 of them",
            "plain cache-aside lost the forced race and the versioned fill refused",
            "no strategy served a stale read",
            "300 ms without pub/sub and 4.0 ms with it.",
            "every read still succeeded from the store, which took 100 queries against 20",
            "by 1 of 1 strategies without the repair journal and by 0 of 1 with it",
            "revalidation moved 2900 body bytes instead of 25000",
            "On Memcached, a tier hit cost 1.02× a bare get (decoding within noise)",
            "its bare get (75.0 µs) was 1.3× faster than Redis's GET",
            "cache-aside over Memcached served a post by id 2.0× faster at the median than the store, with 12 store queries",
            "Memcached refused a 1048577-byte value that Redis stored and kept none of 100 keys across a restart.",
        ] {
            assert!(normal.contains(expected), "{expected:?} not in: {normal}");
        }
        for contrary_case in [
            "(over a microsecond this run)",
            "more than noise this run",
            "a post by id was 2.0× slower",
            "top posts 1.2× slower",
            "coalescing saved nothing this run",
            "lost none of them",
            "left the versioned fill stale and plain cache-aside fresh",
            "stale reads came from redis / cache-aside (7 of 100)",
            "pub/sub did not shorten it this run",
            "3 reads failed",
            "by 1 of 1 with it",
            "it saved nothing this run",
            "(decoding added 54%)",
            "its bare get (130.0 µs) was 1.3× slower than Redis's GET",
            "served a post by id 2.5× slower at the median",
            "stored a 1048577-byte value, over the item_size_max it reported",
            "kept 100 of 100 keys across a restart",
        ] {
            assert!(
                contrary.contains(contrary_case),
                "{contrary_case:?} not in: {contrary}"
            );
            assert!(
                !normal.contains(contrary_case),
                "{contrary_case:?} in: {normal}"
            );
        }
    }

    #[test]
    fn without_redis_the_paragraph_says_what_was_left_out() {
        let mut f = figures(true);
        f.speed.hit_costs.bare_redis_get = None;
        f.speed.hit_costs.redis_hit = None;
        f.across_instances = None;
        f.redis_lost = None;

        let text = paragraph(&f);

        assert!(text.contains("Redis was not part of this run"), "{text}");
        assert!(
            text.contains("The cross-instance comparison needs Redis."),
            "{text}"
        );
        assert!(!text.contains("repair journal"), "{text}");
    }

    #[test]
    fn a_memcached_get_that_costs_what_a_redis_get_does_is_called_the_same() {
        let mut f = figures(true);
        f.speed.hit_costs.bare_memcached_get = f.speed.hit_costs.bare_redis_get;

        let text = paragraph(&f);

        assert!(
            text.contains("cost about what Redis's GET did: on loopback both are one round trip"),
            "{text}"
        );
    }

    #[test]
    fn without_memcached_the_paragraph_does_not_mention_it() {
        let mut f = figures(true);
        f.speed.hit_costs.bare_memcached_get = None;
        f.speed.hit_costs.memcached_hit = None;
        f.memcached_vs_redis = None;

        let text = paragraph(&f);

        assert!(!text.contains("Memcached"), "{text}");
    }
}
