//! A segment tree over nodes in name order holding, per segment, the
//! component-wise maximum of each node's resources. It finds the first node
//! whose resources cover a request without visiting every node: a subtree
//! whose maximum does not cover the request is skipped whole.

use rota_events::Resources;

/// Component-wise maximum.
pub fn max(a: &Resources, b: &Resources) -> Resources {
    Resources {
        cpu_milli: a.cpu_milli.max(b.cpu_milli),
        memory_bytes: a.memory_bytes.max(b.memory_bytes),
        gpus: a.gpus.max(b.gpus),
        gpu_milli: a.gpu_milli.max(b.gpu_milli),
    }
}

#[derive(Debug, Clone, Default)]
pub struct MaxTree {
    /// Leaves start at `leaves`; node `i` has children `2i` and `2i + 1`.
    tree: Vec<Resources>,
    leaves: usize,
    len: usize,
}

impl MaxTree {
    pub fn new(values: &[Resources]) -> MaxTree {
        let leaves = values.len().next_power_of_two().max(1);
        let mut tree = vec![Resources::default(); 2 * leaves];
        tree[leaves..leaves + values.len()].copy_from_slice(values);
        for i in (1..leaves).rev() {
            tree[i] = max(&tree[2 * i], &tree[2 * i + 1]);
        }
        MaxTree {
            tree,
            leaves,
            len: values.len(),
        }
    }

    pub fn get(&self, index: usize) -> Resources {
        self.tree[self.leaves + index]
    }

    pub fn set(&mut self, index: usize, value: Resources) {
        let mut i = self.leaves + index;
        self.tree[i] = value;
        while i > 1 {
            i /= 2;
            self.tree[i] = max(&self.tree[2 * i], &self.tree[2 * i + 1]);
        }
    }

    /// The first index whose value covers `request` and that `accept` takes.
    pub fn first_fit_where(
        &self,
        request: &Resources,
        accept: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        self.next_fit_where(request, 0, accept)
    }

    /// The first index at or after `from` whose value covers `request` and
    /// that `accept` takes.
    pub fn next_fit_where(
        &self,
        request: &Resources,
        from: usize,
        accept: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        self.search(1, 0, self.leaves, request, from, accept)
    }

    /// Appends to `found`, in index order, the indices in `[from, to)` whose
    /// value covers `request` and that `accept` takes, until `found` holds
    /// `limit`. One walk of the tree serves them all, where asking for each
    /// in turn would descend from the root every time.
    pub fn collect_fits_where(
        &self,
        request: &Resources,
        range: std::ops::Range<usize>,
        limit: usize,
        accept: &dyn Fn(usize) -> bool,
        found: &mut Vec<usize>,
    ) {
        let to = range.end.min(self.len);
        if range.start < to && found.len() < limit {
            let wanted = Wanted {
                request,
                from: range.start,
                to,
                limit,
                accept,
            };
            self.collect(1, 0, self.leaves, &wanted, found);
        }
    }

    /// Collects from tree node `i`, which covers leaves `[low, high)`.
    fn collect(
        &self,
        i: usize,
        low: usize,
        high: usize,
        wanted: &Wanted<'_>,
        found: &mut Vec<usize>,
    ) {
        if found.len() >= wanted.limit
            || high <= wanted.from
            || low >= wanted.to
            || !wanted.request.fits_within(&self.tree[i])
        {
            return;
        }
        if i >= self.leaves {
            let index = i - self.leaves;
            if (wanted.accept)(index) {
                found.push(index);
            }
            return;
        }
        let middle = (low + high) / 2;
        self.collect(2 * i, low, middle, wanted, found);
        self.collect(2 * i + 1, middle, high, wanted, found);
    }

    /// Searches tree node `i`, which covers leaves `[low, high)`, for the
    /// first leaf at or after `from`.
    fn search(
        &self,
        i: usize,
        low: usize,
        high: usize,
        request: &Resources,
        from: usize,
        accept: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        if high <= from || !request.fits_within(&self.tree[i]) {
            return None;
        }
        if i >= self.leaves {
            let index = i - self.leaves;
            return (index < self.len && accept(index)).then_some(index);
        }
        let middle = (low + high) / 2;
        self.search(2 * i, low, middle, request, from, accept)
            .or_else(|| self.search(2 * i + 1, middle, high, request, from, accept))
    }
}

/// What [`MaxTree::collect_fits_where`] looks for.
struct Wanted<'w> {
    request: &'w Resources,
    from: usize,
    to: usize,
    limit: usize,
    accept: &'w dyn Fn(usize) -> bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpu_milli: u64, gpus: u32) -> Resources {
        Resources {
            cpu_milli,
            memory_bytes: 0,
            gpus,
            ..Default::default()
        }
    }

    #[test]
    fn finds_the_first_covering_index_like_a_linear_scan() {
        let values: Vec<Resources> = (0..37)
            .map(|i| r((i * 7919) % 50, (i % 5) as u32))
            .collect();
        let mut tree = MaxTree::new(&values);
        let mut linear = values.clone();
        for step in 0..200u64 {
            let request = r(step % 53, (step % 6) as u32);
            let expected = linear.iter().position(|v| request.fits_within(v));
            assert_eq!(
                tree.first_fit_where(&request, &|_| true),
                expected,
                "request {request:?}"
            );
            if let Some(i) = expected {
                let left = linear[i].minus(&request);
                linear[i] = left;
                tree.set(i, left);
            }
        }
    }

    #[test]
    fn collecting_fits_finds_what_a_linear_scan_finds() {
        let values: Vec<Resources> = (0..53)
            .map(|i| r((i * 7919) % 50, (i % 5) as u32))
            .collect();
        let tree = MaxTree::new(&values);
        let accept = |i: usize| i % 3 != 1;
        for step in 0..120usize {
            let request = r((step % 53) as u64, (step % 6) as u32);
            let (from, to, limit) = (step % 40, 10 + step % 50, 1 + step % 7);
            let expected: Vec<usize> = (from..to.min(values.len()))
                .filter(|i| request.fits_within(&values[*i]) && accept(*i))
                .take(limit)
                .collect();
            let mut found = Vec::new();
            tree.collect_fits_where(&request, from..to, limit, &accept, &mut found);
            assert_eq!(found, expected, "request {request:?} in {from}..{to}");
        }
    }
}
