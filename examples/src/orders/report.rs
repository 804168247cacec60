//! The batch side: a revenue report over a bounded window of `orders-enriched`,
//! read with [`Weir::bounded_read`] while the enricher keeps appending to the
//! same topic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use weir::{ReadSummary, Weir};

use crate::orders::Error;
use crate::orders::model::{EnrichedOrder, Tier};

/// Customers listed in the report.
const TOP_CUSTOMERS: usize = 5;

/// A revenue report and the integrity summary of the read behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevenueReport {
    /// The topic read.
    pub topic: String,
    /// The order-time window `[start, end)` in ms, if one was asked for.
    pub window_ms: Option<(i64, i64)>,
    /// Orders in the report, each counted once.
    pub orders: u64,
    /// Records of an order already counted, dropped: the enricher delivers
    /// at least once, so a run that stopped between its outputs and its
    /// checkpoint has its last orders enriched again by the next run.
    pub repeats: u64,
    /// Records that were not enriched orders (none, unless something else
    /// writes to the topic).
    pub unreadable: u64,
    /// Revenue (order totals, VAT included) per currency, in cents.
    pub revenue_cents: BTreeMap<String, i64>,
    /// Revenue in euros for all currencies together, in cents.
    pub revenue_eur_cents: i64,
    /// The customers with the most revenue, in euro cents, largest first.
    pub top_customers: Vec<(String, i64)>,
    /// Orders per customer tier.
    pub orders_by_tier: BTreeMap<Tier, u64>,
    /// What the bounded read read: records, bytes, batches, per-partition
    /// offsets and a checksum.
    pub summary: ReadSummary,
}

/// Reads `topic` (an `orders-enriched` topic) from its start to its end offsets
/// as of this call, keeping only orders whose timestamps fall in `window_ms`
/// (`[start, end)`, resolved to offsets through the time index) when given,
/// and totals them. Blocks while reading.
///
/// # Errors
/// An unknown topic; a corrupt batch (named by partition and offset).
pub fn revenue_report(
    weir: &Weir,
    topic: &str,
    window_ms: Option<(i64, i64)>,
) -> Result<RevenueReport, Error> {
    // Only committed outputs of the enricher: a transaction still open ends
    // the read's range (the last stable offset), an aborted one is skipped.
    let mut read = weir
        .bounded_read(topic)
        .isolation_level(weir::IsolationLevel::ReadCommitted);
    if let Some((start, end)) = window_ms {
        read = read.time_window(start, end);
    }
    // The end offsets are fixed here: what the enricher appends from now on
    // is not part of this report, so the report is a consistent snapshot.
    let read = read.open()?;
    let mut report = RevenueReport {
        topic: topic.to_string(),
        window_ms,
        orders: 0,
        repeats: 0,
        unreadable: 0,
        revenue_cents: BTreeMap::new(),
        revenue_eur_cents: 0,
        top_customers: Vec::new(),
        orders_by_tier: BTreeMap::new(),
        summary: ReadSummary::default(),
    };
    let mut by_customer: HashMap<String, i64> = HashMap::new();
    // Order ids grow from run to run, so an id seen twice is a repeat.
    let mut seen: HashSet<u64> = HashSet::new();
    report.summary = read.for_each(|r| {
        let order = r
            .record
            .value()
            .and_then(|v| serde_json::from_slice::<EnrichedOrder>(v).ok());
        let totals = order
            .as_ref()
            .and_then(|o| Some((o.total_cents()?, o.total_eur_cents()?)));
        match (order, totals) {
            (Some(order), Some(_)) if !seen.insert(order.order_id) => report.repeats += 1,
            (Some(order), Some((total, total_eur))) => {
                report.orders += 1;
                *report.revenue_cents.entry(order.currency).or_default() += total;
                report.revenue_eur_cents += total_eur;
                *report.orders_by_tier.entry(order.tier).or_default() += 1;
                *by_customer.entry(order.customer).or_default() += total_eur;
            }
            _ => report.unreadable += 1,
        }
        Ok(())
    })?;
    let mut customers: Vec<(String, i64)> = by_customer.into_iter().collect();
    customers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    customers.truncate(TOP_CUSTOMERS);
    report.top_customers = customers;
    Ok(report)
}

/// `cents` as `1,234,567.89`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", thousands(cents / 100), cents % 100)
}

/// `ms` since the epoch as `2025-01-31 23:59:59.999 UTC`.
pub fn utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's days-to-civil-date algorithm (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// `n` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for RevenueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(
            f,
            "  {} orders, revenue by currency (VAT included):",
            thousands(self.orders)
        )?;
        for (currency, cents) in &self.revenue_cents {
            writeln!(f, "    {currency} {:>16}", money(*cents))?;
        }
        writeln!(f, "    all in EUR {:>12}", money(self.revenue_eur_cents))?;
        writeln!(f, "  top {TOP_CUSTOMERS} customers (EUR):")?;
        for (customer, cents) in &self.top_customers {
            writeln!(f, "    {customer} {:>14}", money(*cents))?;
        }
        let tiers: Vec<String> = self
            .orders_by_tier
            .iter()
            .map(|(tier, n)| format!("{} {}", tier.name(), thousands(*n)))
            .collect();
        writeln!(f, "  orders per tier: {}", tiers.join(", "))?;
        if self.unreadable > 0 {
            writeln!(f, "  unreadable records: {}", self.unreadable)?;
        }
        if self.repeats > 0 {
            writeln!(
                f,
                "  repeats dropped: {} (orders enriched again after an interrupted run)",
                thousands(self.repeats)
            )?;
        }
        writeln!(
            f,
            "  integrity: {} records, {:.1} MB of keys and values, {} batches (every CRC checked), \
             no offset missing, {} outside the window, checksum {:#010x}",
            thousands(s.records),
            s.bytes as f64 / 1e6,
            thousands(s.batches),
            s.skipped_outside_window,
            s.checksum,
        )?;
        let secs = s.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "  read and totalled in {:.0} ms: {} records/s, {:.0} MB/s",
            secs * 1e3,
            thousands((s.records as f64 / secs) as u64),
            s.bytes as f64 / secs / 1e6
        )?;
        for p in &s.partitions {
            let read = match (p.first_offset, p.last_offset) {
                (Some(first), Some(last)) => format!("read {first}..={last}"),
                _ => "nothing read".to_string(),
            };
            writeln!(
                f,
                "    {}-{}: offsets [{}, {}) {read}, {} records, crc {:#010x}",
                self.topic,
                p.partition,
                p.start_offset,
                p.end_offset,
                thousands(p.records),
                p.checksum
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_thousands() {
        assert_eq!(money(123_456_789), "1,234,567.89");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000 - 1), "2000-02-28 23:59:59.999 UTC");
        assert_eq!(utc(951_868_800_000), "2000-03-01 00:00:00.000 UTC");
        assert_eq!(utc(1_735_689_600_123), "2025-01-01 00:00:00.123 UTC");
    }
}
