//! Shards: N processes that share one work list without talking to each other, as a batch
//! engine's array job runs them (a Kubernetes Indexed Job, a Slurm job array).
//!
//! Each process builds the same sorted list (see `list`) and takes the items whose position `i`
//! has `i % N == K - 1`: round robin rather than contiguous chunks, because a catalog's folders
//! differ in size and in the size of their images; dealt out like cards, every shard gets a
//! similar mix, and no shard ends up with the one folder of huge scans. Shard sizes differ by at
//! most one item. The slice is stable as long as the list is: run the shards over a tree that
//! does not change while they run.

use std::fmt;

use anyhow::{Context, Result, bail};

/// One slice of N: `index` counts from 0, as batch engines count their tasks; shown from 1, as
/// `split -n K/N` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

impl Shard {
    /// Whether the item at `position` of the sorted list belongs to this shard.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count == self.index
    }

    /// `--shard K/N`, K from 1 to N.
    pub fn parse(text: &str) -> Result<Self> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
        let Some((k, n)) = parsed else {
            bail!("--shard {text:?}: expected K/N, e.g. 3/8 for the third of eight shards");
        };
        if n == 0 || k == 0 || k > n {
            bail!("--shard {text}: K must be from 1 to N (the first of four shards is 1/4)");
        }
        Self::new(k - 1, n)
    }

    fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 {
            bail!("the number of shards must be at least 1");
        }
        if index >= count {
            bail!("task {index} (counting from 0) is not one of {count} shards");
        }
        Ok(Self { index, count })
    }

    /// `--shard-from-env`: the task's index from the batch engine, the count from the engine or
    /// from `--shard-count`. Returns the shard and where it came from, to print. `var` reads an
    /// environment variable (a parameter, so that tests need not change the process's).
    pub fn from_env(count: Option<usize>, var: impl Fn(&str) -> Option<String>) -> Result<(Self, String)> {
        let number = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|value| {
                    value.trim().parse().with_context(|| format!("{name}={value:?} is not a whole number from 0 up"))
                })
                .transpose()
        };

        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let Some(count) = count else {
                bail!(
                    "JOB_COMPLETION_INDEX={index} says which task this is, but not how many there are: give \
                     --shard-count N, with N the Job's spec.completions"
                );
            };
            let shard = Self::new(index, count).with_context(|| {
                format!("JOB_COMPLETION_INDEX={index} with --shard-count {count}: the Job's spec.completions must be {count}")
            })?;
            return Ok((shard, format!("JOB_COMPLETION_INDEX={index}, --shard-count {count}")));
        }

        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let from_slurm = number("SLURM_ARRAY_TASK_COUNT")?;
            let count = match (from_slurm, count) {
                (Some(slurm), Some(given)) if slurm != given => bail!(
                    "--shard-count {given} disagrees with SLURM_ARRAY_TASK_COUNT={slurm}: leave --shard-count out, \
                     Slurm says how many tasks there are"
                ),
                (Some(n), _) | (None, Some(n)) => n,
                (None, None) => bail!(
                    "SLURM_ARRAY_TASK_ID={id} says which task this is, but SLURM_ARRAY_TASK_COUNT is not set: \
                     give --shard-count N"
                ),
            };
            let offset = id.checked_sub(min).filter(|offset| offset % step == 0);
            let shard = offset.map(|offset| offset / step).and_then(|index| Self::new(index, count).ok());
            let Some(shard) = shard else {
                bail!(
                    "SLURM_ARRAY_TASK_ID={id} is not one of {count} evenly spaced tasks from \
                     SLURM_ARRAY_TASK_MIN={min} (step {step}): run the array as a range, e.g. --array=0-{}",
                    count.saturating_sub(1)
                );
            };
            return Ok((shard, format!("SLURM_ARRAY_TASK_ID={id} of {count} from {min}")));
        }

        bail!(
            "--shard-from-env: neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID \
             (a Slurm job array) is set; outside a batch engine, say --shard K/N"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_k_of_n_from_one() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 0, count: 4 });
        assert_eq!(Shard::parse("4/4").unwrap().to_string(), "4/4");
        for bad in ["0/4", "5/4", "1/0", "x", "2-4", "/4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_kubernetes_and_slurm_indices() {
        let (shard, _) = Shard::from_env(Some(3), env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap();
        assert_eq!(shard, Shard { index: 2, count: 3 });
        assert!(Shard::from_env(None, env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());
        assert!(Shard::from_env(Some(2), env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());

        let slurm = [("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "2"), ("SLURM_ARRAY_TASK_COUNT", "5")];
        assert_eq!(Shard::from_env(None, env(&slurm)).unwrap().0, Shard { index: 4, count: 5 });
        assert!(Shard::from_env(Some(4), env(&slurm)).is_err(), "disagrees with Slurm's count");
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(Shard::from_env(None, env(&stepped)).unwrap().0, Shard { index: 2, count: 4 });
        assert!(Shard::from_env(None, env(&[])).is_err());
    }
}
