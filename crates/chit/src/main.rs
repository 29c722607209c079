//! `chit`: the command line. Glue only: parse arguments, call the libraries, print.

use anyhow::{bail, Result};
use clap::FromArgMatches;

mod admin;
mod bench;
mod cli;
mod cmd;
mod out;
mod serve;

use cli::{AdminCmd, Bench, Cli, Command, IdsArg, KeyCmd, TemplateCmd, TokenCmd};
use cmd::pay::Decision;
use out::Out;

fn main() {
    let matches = cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let out = Out::new(cli.json);
    if let Err(e) = run(cli, out) {
        out.error(&e);
        std::process::exit(1);
    }
}

fn wallet_dir(cli: &Cli) -> Result<std::path::PathBuf> {
    if let Some(dir) = &cli.wallet {
        return Ok(dir.clone());
    }
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("set --wallet or HOME"))?;
    Ok(std::path::PathBuf::from(home).join(".chit"))
}

fn run(cli: Cli, out: Out) -> Result<()> {
    use chit_client::wallet::Wallet;
    let dir = || wallet_dir(&cli);
    let open = || -> Result<Wallet> {
        let wallet = Wallet::open(&wallet_dir(&cli)?, cli.node.as_deref())?;
        for note in &wallet.notes {
            eprintln!("note: {note}");
        }
        Ok(wallet)
    };
    match &cli.command {
        Command::Register { handle } => {
            let node = cli.node.as_deref().unwrap_or("http://127.0.0.1:8080");
            cmd::register(&dir()?, node, handle, out)
        }
        Command::Whoami => cmd::whoami(&open()?, out),
        Command::Balance => cmd::money::balance(&mut open()?, out),
        Command::Link { rail, reference } => cmd::money::link(&mut open()?, rail, reference, out),
        Command::Topup { amount } => cmd::money::move_money(&mut open()?, amount, true, out),
        Command::Cashout { amount } => cmd::money::move_money(&mut open()?, amount, false, out),
        Command::AutoAccept { mode } => cmd::money::auto_accept(&mut open()?, *mode, out),
        Command::Say { to, text } => cmd::chat::say(&mut open()?, to, text, out),
        Command::Send {
            to,
            amount,
            note,
            expires,
        } => {
            let expires = cmd::parse_duration(expires)?;
            cmd::pay::send(&mut open()?, to, amount, note, expires, out)
        }
        Command::Request {
            from,
            amount,
            note,
            expires,
            template,
        } => {
            let args = cmd::pay::RequestArgs {
                from,
                amount: amount.as_deref(),
                note: note.as_deref(),
                expires: expires.as_deref(),
                template: template.as_deref(),
            };
            cmd::pay::request(&mut open()?, args, out)
        }
        Command::Pay { id, at } => cmd::pay::pay(&mut open()?, id, at.as_deref(), out),
        Command::Accept { id } => cmd::pay::decide(&mut open()?, Decision::Accept, id, out),
        Command::Decline { id } => cmd::pay::decide(&mut open()?, Decision::Decline, id, out),
        Command::Cancel { id } => cmd::pay::decide(&mut open()?, Decision::Cancel, id, out),
        Command::Reject { id } => cmd::pay::decide(&mut open()?, Decision::Reject, id, out),
        Command::Refund { id } => cmd::pay::decide(&mut open()?, Decision::Refund, id, out),
        Command::Inbox { wait } => cmd::chat::inbox(&mut open()?, *wait, out),
        Command::Listen => cmd::chat::listen(&mut open()?, out),
        Command::Chats { limit } => cmd::chat::chats(&mut open()?, *limit, out),
        Command::Thread { with, limit } => cmd::chat::thread(&mut open()?, with, *limit, out),
        Command::History {
            format,
            since,
            until,
        } => cmd::history::history(
            &mut open()?,
            *format,
            since.as_deref(),
            until.as_deref(),
            out,
        ),
        Command::Receipt { id, verify } => cmd::history::receipt(&mut open()?, id, *verify, out),
        Command::Token { op } => match op {
            TokenCmd::Create {
                scope,
                expires,
                label,
            } => cmd::tokens::create(&mut open()?, scope, expires, label, out),
            TokenCmd::List => cmd::tokens::list(&mut open()?, out),
            TokenCmd::Revoke { key } => cmd::tokens::revoke(&mut open()?, key, out),
        },
        Command::Template { op } => {
            let op = match op {
                TemplateCmd::Add {
                    name,
                    amount,
                    note,
                    expires,
                } => cmd::templates::TemplateOp::Add {
                    name: name.clone(),
                    amount: amount.clone(),
                    note: note.clone(),
                    expires: expires.clone(),
                },
                TemplateCmd::List => cmd::templates::TemplateOp::List,
                TemplateCmd::Remove { name } => {
                    cmd::templates::TemplateOp::Remove { name: name.clone() }
                }
            };
            cmd::templates::template(&open()?, op, out)
        }
        Command::Device { op } => cmd::offline::device(&mut open()?, op, out),
        Command::Offline { op } => cmd::offline::offline(&mut open()?, op, out),
        Command::Key { op } => match op {
            KeyCmd::Export { file } => cmd::keys::export(&dir()?, file, out),
            KeyCmd::Import { file } => cmd::keys::import(&dir()?, file, out),
        },
        Command::Serve(args) => serve::serve(args.clone()),
        Command::Admin {
            op: AdminCmd::Audit { data_dir, database },
        } => admin::audit(data_dir, database.as_deref(), out),
        Command::Bench { bench } => run_bench(bench),
    }
}

fn run_bench(bench: &Bench) -> Result<()> {
    match bench {
        Bench::Offline {
            devices,
            vouchers,
            batch,
        } => {
            if *devices == 0 || *vouchers == 0 || *batch == 0 {
                bail!("--devices, --vouchers and --batch must be positive");
            }
            println!("machine: {}", chit_bench::machine::describe());
            let f = chit_bench::offline::run(*devices, *vouchers, *batch);
            println!(
                "PayVerify, one core: {} vouchers from {devices} devices: {:.0}/s one by one, {:.0}/s in batches of {batch}",
                f.vouchers, f.one_by_one_per_s, f.batched_per_s
            );
            Ok(())
        }
        Bench::Node {
            target,
            payments,
            messages,
            pairs,
            rate,
            latency_pairs,
            latency_seconds,
        } => {
            if *pairs == 0 || *payments < *pairs || *messages < *pairs || *rate == 0 {
                bail!("--pairs must be positive and at most --payments and --messages; --rate positive");
            }
            if *latency_pairs == 0 || *latency_pairs as u64 > *rate || *latency_seconds == 0 {
                bail!("--latency-pairs must be positive and at most --rate; --latency-seconds positive");
            }
            let options = chit_bench::node::NodeOptions {
                pairs: *pairs,
                payments: *payments,
                messages: *messages,
                rate: *rate,
                latency_pairs: *latency_pairs,
                latency_seconds: *latency_seconds,
            };
            bench::node(target, options)
        }
        Bench::Ledger {
            target,
            transfers,
            accounts,
            ids,
        } => {
            let (transfers, accounts) = (*transfers, *accounts);
            if transfers == 0 || accounts < 2 {
                bail!("--transfers must be positive and --accounts at least 2");
            }
            let ids = match ids {
                IdsArg::TimeOrdered => chit_bench::ledger::Ids::TimeOrdered,
                IdsArg::Random => chit_bench::ledger::Ids::Random,
            };
            let options = chit_bench::ledger::Options {
                accounts,
                transfers,
                ids,
                ..Default::default()
            };
            bench::ledger(target, options)
        }
    }
}
