//! `chit bench`: runs a benchmark and prints its figures with the machine they ran on.

use crate::out::say;
use anyhow::Result;

use crate::cli::{BenchTarget, EngineArg};

pub fn ledger(target: &BenchTarget, options: chit_bench::ledger::Options) -> Result<()> {
    use chit_bench::ledger::run;
    let targets = targets(target);
    say!("chit bench ledger: durable commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on)");
    say!("machine: {}", chit_bench::machine::describe());
    let ids = match options.ids {
        chit_bench::ledger::Ids::TimeOrdered => "time-ordered",
        chit_bench::ledger::Ids::Random => "uniformly random",
    };
    say!(
        "{} accounts, {ids} 128-bit transfer ids, one client unless noted\n",
        options.accounts
    );
    say!(
        "{:<9} {:<12} {:<28} {:>10} {:>12}",
        "engine",
        "load",
        "batch",
        "transfers",
        "transfers/s"
    );
    for target in targets {
        run(&target, options, &mut |f| {
            say!(
                "{:<9} {:<12} {:<28} {:>10} {:>12.0}",
                f.engine,
                f.load,
                f.batch,
                f.transfers,
                f.per_second()
            );
        })
        .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

pub fn node(target: &BenchTarget, options: chit_bench::node::NodeOptions) -> Result<()> {
    let targets = targets(target);
    say!("chit bench node: a node on 127.0.0.1:0 and SDK clients on the same machine; durable commits");
    say!("machine: {}", chit_bench::machine::describe());
    say!("requests are signed and sealed before timing starts");
    let (single, batched) = chit_bench::node::signature_checks_per_second();
    say!(
        "for scale: one core checks {single:.0} Ed25519 signatures/s one by one, {batched:.0}/s in batches \
         of {} (every signed command needs one)\n",
        chit_node::auth::signatures::SIGNATURE_BATCH_MAX
    );
    for target in targets {
        chit_bench::node::run(&target, options, &mut |f| {
            say!("{:<9} {:<70} {}", f.engine, f.what, f.value);
        })
        .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The engines a benchmark runs on.
fn targets(target: &BenchTarget) -> Vec<chit_bench::ledger::Target> {
    let (engine, postgres) = (target.engine, &target.postgres);
    use chit_bench::ledger::Target;
    let mut targets = Vec::new();
    if engine != EngineArg::Postgres {
        targets.push(Target::Sqlite);
    }
    if engine != EngineArg::Sqlite {
        targets.push(Target::Postgres(postgres.to_owned()));
    }
    targets
}
