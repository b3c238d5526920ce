//! Build stories (issue 16): what changed for a job (its history and the transition of
//! each run), who should look (mentions), and which posts pass `--on`. Pure data and
//! logic: the stores keep the [`history::JobRecord`]s, the pipeline asks these modules.
// Wired into the pipeline and the stores by issue 16's second half; until then only the
// tests and `config` use it.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod history;
pub(crate) mod mention;
pub(crate) mod on;
