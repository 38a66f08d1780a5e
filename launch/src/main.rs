//! `tendon`: the command-line entry point. Subcommands are thin: they parse
//! arguments, wire library pieces together and report.

mod bench;
mod bridge;
mod listen_cmd;
mod models_cmd;
mod record;
mod run_cmd;
mod sim_cmd;

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
    /// The MuJoCo G1 with the control loop: the default scenario, or the robot alone over DDS.
    Sim(sim_cmd::SimArgs),
    /// The daemon against a robot over DDS, configured by a launch file.
    Run {
        /// Launch file (TOML), e.g. launch/g1.toml.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Spoken operator commands from a WAV file or the microphone.
    Listen(listen_cmd::ListenArgs),
    /// Model files: import, inspect, train.
    Models {
        #[command(subcommand)]
        command: models_cmd::ModelsCommand,
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
        Command::Listen(args) => listen_cmd::run(args),
        Command::Models { command } => models_cmd::run(command),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Run { config } => run_cmd::run(&config),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
