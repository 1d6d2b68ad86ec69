//! No filename a client can send decides where the server writes.

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use uploads::inspect::samples;
use uploads::storage::{self, MAX_NAME_BYTES};
use uploads::through_backend::Stored;

use crate::common::{fixtures, multipart};

/// Names built from the pieces traversal attacks are made of, and arbitrary Unicode.
fn hostile_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("../".to_owned()),
        Just("..\\".to_owned()),
        Just("/".to_owned()),
        Just("C:\\".to_owned()),
        Just("%2e%2e%2f".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{202E}".to_owned()),
        Just(".".to_owned()),
        "[a-z]{1,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn no_display_name_contains_a_separator_a_control_or_a_dot_dot(raw in hostile_name()) {
        let shown = storage::display_name(&raw);
        prop_assert!(!shown.is_empty() && shown.len() <= MAX_NAME_BYTES);
        prop_assert!(!shown.contains('/') && !shown.contains('\\'));
        prop_assert!(!shown.chars().any(char::is_control));
        prop_assert!(!shown.starts_with('.'));
    }
}

/// The end-to-end property: the real server, real multipart bodies with generated names (quotes
/// and CR/LF removed, which would only make the body unparseable), and after every upload the
/// storage root holds exactly the files it created, each `files/<32 hex>`, and the directory
/// around the root holds nothing new.
#[test]
fn no_generated_filename_makes_the_server_write_outside_its_storage_directory() -> anyhow::Result<()>
{
    let runtime = actix_web::rt::System::new();
    runtime.block_on(async {
        let mut config = proptest::test_runner::Config::with_cases(24);
        config.failure_persistence = None;
        let mut runner = proptest::test_runner::TestRunner::new(config);
        for f in fixtures("uploads_prop_names").await? {
            let around = f
                .shared
                .dir
                .root()
                .parent()
                .map(std::path::Path::to_path_buf);
            let before = list(around.as_deref())?;
            let mut uploaded = 0;
            let strategy = hostile_name().prop_map(|n| n.replace(['"', '\r', '\n'], ""));
            // The cases are drawn first, then sent one by one on this runtime.
            let mut names = Vec::new();
            for _ in 0..24 {
                names.push(
                    strategy
                        .new_tree(&mut runner)
                        .map_err(|e| anyhow::anyhow!(e))?
                        .current(),
                );
            }
            for name in names {
                let res = f
                    .post_multipart(multipart(
                        &format!("{name}.png"),
                        "image/png",
                        &samples::png(1, 1, 4),
                    ))
                    .await?;
                let status = res.status().as_u16();
                if status == 201 {
                    let stored: Stored = res.json().await?;
                    assert!(!stored.name.contains('/'), "{name:?} → {:?}", stored.name);
                    uploaded += 1;
                } else {
                    // A name can make the header unparseable (400) or carry another extension
                    // (415); neither may leave anything behind.
                    assert!(matches!(status, 400 | 415), "{name:?}: {status}");
                }
                let files = f.shared.dir.list()?;
                assert_eq!(files.len(), uploaded, "{name:?}: {files:?}");
                for file in &files {
                    let s = file.to_string_lossy();
                    assert!(
                        s.starts_with("files/") && s.len() == 38,
                        "{name:?} wrote {s}"
                    );
                }
                assert_eq!(
                    list(around.as_deref())?,
                    before,
                    "{name:?} wrote beside the root"
                );
            }
        }
        Ok(())
    })
}

fn list(dir: Option<&std::path::Path>) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let mut v: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.sort();
    Ok(v)
}
