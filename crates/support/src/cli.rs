//! The command line every topic binary shares: the demo by default, `serve` to keep the server
//! up for curl, `forget` to delete the data sets a demo seeds once and reuses. A topic adds only
//! its own `serve` flags (or [`NoFlags`]), so its `main.rs` reads
//!
//! ```text
//! let (settings, mode) = support::cli::start::<NoFlags>("Offset versus cursor pagination")?;
//! match mode {
//!     Mode::Demo(args) => pagination::demo::run(&settings, &args).await.map(drop),
//!     Mode::Serve { serve, .. } => pagination::app::serve(&settings, &serve).await,
//!     Mode::Forget => pagination::seed::forget(&settings).await.map(|gone| gone.print("pagination")),
//! }
//! ```

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::Settings;
use crate::demo::DemoArgs;

/// Where `serve` listens.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind; `0.0.0.0` inside a container.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

impl ServeArgs {
    /// `host:port`, ready for `TcpListener::bind`.
    pub fn address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }
}

/// For a topic whose `serve` has no flags of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Args)]
pub struct NoFlags {}

/// What the binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode<S> {
    /// Run the narrated, measured demo.
    Demo(DemoArgs),
    /// Keep the server up.
    Serve {
        serve: ServeArgs,
        /// The topic's own `serve` flags.
        topic: S,
        /// The demo flags still apply (`--quick` seeds less data, for instance).
        demo: DemoArgs,
    },
    /// Delete the data sets the demo seeded and keeps for later runs, then exit.
    Forget,
}

#[derive(Debug, Parser)]
struct Cli<S: Args> {
    #[command(subcommand)]
    command: Option<Command<S>>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Debug, Subcommand)]
enum Command<S: Args> {
    /// Keep the server running (for curl, a browser or Postman) instead of running the demo.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        topic: S,
    },
    /// Delete the data sets the demo seeded and keeps for later runs (its databases, schemas,
    /// files and keys; never the server's own data), then exit.
    Forget,
}

/// Parses the command line (described by `about`), installs tracing (`warn` for the demo, so
/// its narration is not buried in logs; `info` for the server) and reads the settings.
pub fn start<S: Args>(about: &'static str) -> anyhow::Result<(Settings, Mode<S>)> {
    let matches = Cli::<S>::command().about(about).get_matches();
    let cli = Cli::<S>::from_arg_matches(&matches).map_err(|e| e.exit())?;
    let mode = parse_mode(cli);
    crate::telemetry::init(match mode {
        Mode::Demo(_) | Mode::Forget => "warn",
        Mode::Serve { .. } => "info",
    });
    Ok((Settings::from_env()?, mode))
}

fn parse_mode<S: Args>(cli: Cli<S>) -> Mode<S> {
    match cli.command {
        None => Mode::Demo(cli.demo),
        Some(Command::Serve { serve, topic }) => Mode::Serve {
            serve,
            topic,
            demo: cli.demo,
        },
        Some(Command::Forget) => Mode::Forget,
    }
}

/// [`start`]'s parsing alone, on given arguments (for tests).
pub fn parse_from<S: Args>(args: &[&str]) -> Result<Mode<S>, clap::Error> {
    Cli::<S>::try_parse_from(args).map(parse_mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Args)]
    struct Topic {
        #[arg(long)]
        secret: Option<String>,
    }

    #[test]
    fn no_subcommand_is_the_demo_and_its_flags_work_on_either_side_of_serve() {
        let demo = parse_from::<NoFlags>(&["topic", "--quick"]).unwrap();
        assert!(matches!(demo, Mode::Demo(ref a) if a.quick));
        let serve =
            parse_from::<NoFlags>(&["topic", "serve", "--port", "9000", "--quick"]).unwrap();
        let Mode::Serve { serve, demo, .. } = serve else {
            panic!("expected serve")
        };
        assert_eq!(serve.port, 9000);
        assert_eq!(serve.host, "127.0.0.1");
        assert!(demo.quick);
    }

    #[test]
    fn forget_is_a_subcommand_of_its_own() {
        assert_eq!(
            parse_from::<NoFlags>(&["topic", "forget"]).unwrap(),
            Mode::Forget
        );
        assert!(parse_from::<NoFlags>(&["topic", "forget", "--port", "1"]).is_err());
    }

    #[test]
    fn a_topic_adds_its_own_serve_flags() {
        let mode = parse_from::<Topic>(&["topic", "serve", "--secret", "s"]).unwrap();
        assert!(
            matches!(mode, Mode::Serve { ref topic, .. } if topic.secret.as_deref() == Some("s"))
        );
        assert!(parse_from::<NoFlags>(&["topic", "serve", "--secret", "s"]).is_err());
    }
}
