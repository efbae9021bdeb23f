//! `blackant token`: make a bearer token and print the SHA-256 the config stores for it. The
//! token itself is printed once and kept nowhere; glue over `grpc::hash_token` only.

use anyhow::{Context, Result, bail};
use blackant::grpc::hash_token;
use clap::{Args, Subcommand};
use std::io::Read;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print the SHA-256 of a token (read from stdin when not given, so it stays out of the
    /// shell history): the `sha256` of an `[[auth.tokens]]` entry.
    Hash {
        /// The token.
        token: Option<String>,
    },
    /// Make a new random token: prints it once, and the config entry holding its hash.
    New {
        /// operator, service or agent.
        #[arg(long, default_value = "operator")]
        role: String,
        /// The agent, for `--role agent`.
        #[arg(long)]
        agent: Option<String>,
    },
}

pub fn run(args: TokenArgs) -> Result<()> {
    match args.command {
        TokenCommand::Hash { token } => {
            let token = match token {
                Some(t) => t,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading the token from stdin")?;
                    text
                }
            };
            if token.trim().is_empty() {
                bail!("an empty token: give one, or pipe it in");
            }
            println!("{}", hash_token(&token));
        }
        TokenCommand::New { role, agent } => {
            if !matches!(role.as_str(), "operator" | "service" | "agent") {
                bail!("--role must be operator, service or agent, not {role:?}");
            }
            if (role == "agent") != agent.is_some() {
                bail!("--agent goes with --role agent, and only with it");
            }
            let mut bytes = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .context("reading /dev/urandom")?;
            let token = blackant_actors::digest::hex(&bytes);
            println!("token (give it to the client; it is not stored): {token}");
            println!(
                "\n[[auth.tokens]]\nsha256 = \"{}\"\nrole = \"{role}\"",
                hash_token(&token)
            );
            if let Some(a) = agent {
                println!("agent = \"{a}\"");
            }
        }
    }
    Ok(())
}
