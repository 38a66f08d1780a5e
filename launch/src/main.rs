//! `tendon`: the command-line entry point. Subcommands are thin: they parse
//! arguments, wire library pieces together and report.

mod bench;
mod bridge;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tendon",
    version,
    about = "On-robot runtime for the Unitree G1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to a G1 (or a simulator speaking its protocol) over DDS.
    Bridge {
        #[command(subcommand)]
        command: bridge::BridgeCommand,
    },
    /// Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() {
    env_logger::Builder::from_env(
        env_logger::Env::default()
            .default_filter_or("warn,rustdds=error,rustdds::network::udp_listener=off"),
    )
    .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bridge { command } => bridge::run(command),
        Command::Bench { command } => bench::run(command),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
