//! The orders the pipeline moves: what the checkout service writes (with a few
//! broken on purpose), how the enricher checks and enriches them, and the alert
//! it raises for large ones.
//!
//! Money is parsed from the JSON's decimal numbers into integer cents at once,
//! so sums in the revenue report are exact whatever order records arrive in.

use serde::{Deserialize, Serialize};

/// Customers in the generated stream (`cust-00000` ..).
pub const CUSTOMERS: u32 = 10_000;

/// Orders whose total is at least this many euro cents raise an alert.
pub const ALERT_THRESHOLD_EUR_CENTS: i64 = 100_000;

/// One order in `orders` will be broken on purpose out of this many.
pub const ONE_MALFORMED_IN: u32 = 200;

/// The largest amount an order may carry, in cents; larger ones are refused as
/// implausible (and keeps the cent arithmetic far from overflow).
const MAX_AMOUNT_CENTS: i64 = 10_000_000_000;

/// An order as the checkout service writes it to `orders`, keyed by customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Unique, increasing across runs.
    pub order_id: u64,
    /// `cust-NNNNN`; also the record key.
    pub customer: String,
    /// What was bought.
    pub items: Vec<LineItem>,
    /// Sum of the items, in `currency`.
    pub amount: f64,
    /// ISO 4217 code.
    pub currency: String,
    /// Creation time, ms since the epoch.
    pub timestamp: i64,
}

/// One line of an [`Order`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock-keeping unit.
    pub sku: String,
    /// Units bought.
    pub quantity: u32,
    /// Price of one unit, in the order's currency.
    pub unit_price: f64,
}

/// Customer tier, from the (simulated) customer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The top 10% of customers: 5% discount.
    Gold,
    /// The next 30%: 2% discount.
    Silver,
    /// Everyone else.
    Bronze,
}

impl Tier {
    /// The tier's name as written in `orders-enriched`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Gold => "gold",
            Tier::Silver => "silver",
            Tier::Bronze => "bronze",
        }
    }

    fn discount_percent(self) -> i64 {
        match self {
            Tier::Gold => 5,
            Tier::Silver => 2,
            Tier::Bronze => 0,
        }
    }
}

/// An order as the enricher writes it to `orders-enriched`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedOrder {
    /// The order's id.
    pub order_id: u64,
    /// The customer (also the record key).
    pub customer: String,
    /// The customer's tier.
    pub tier: Tier,
    /// The order's currency.
    pub currency: String,
    /// Number of line items.
    pub lines: usize,
    /// The order's amount.
    pub amount: f64,
    /// The tier discount taken off the amount.
    pub discount: f64,
    /// VAT rate applied to the discounted amount.
    pub vat_rate: f64,
    /// VAT charged.
    pub vat: f64,
    /// Amount - discount + VAT, in `currency`.
    pub total: f64,
    /// `total` in euros at the pipeline's fixed rates.
    pub total_eur: f64,
    /// The order's creation time (ms), carried over.
    pub created_at: i64,
}

impl EnrichedOrder {
    /// `total` in cents.
    pub fn total_cents(&self) -> Option<i64> {
        to_cents(self.total)
    }

    /// `total_eur` in cents.
    pub fn total_eur_cents(&self) -> Option<i64> {
        to_cents(self.total_eur)
    }

    /// Whether this order raises an alert.
    pub fn is_large(&self) -> bool {
        self.total_eur_cents()
            .is_some_and(|c| c >= ALERT_THRESHOLD_EUR_CENTS)
    }
}

/// What `order-alerts` receives for an order over the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderAlert {
    /// The order's id.
    pub order_id: u64,
    /// The customer.
    pub customer: String,
    /// The customer's tier.
    pub tier: Tier,
    /// The order's total in euros.
    pub total_eur: f64,
    /// The threshold it crossed, in euros.
    pub threshold_eur: f64,
}

impl OrderAlert {
    /// The alert for `order`.
    pub fn for_order(order: &EnrichedOrder) -> Self {
        OrderAlert {
            order_id: order.order_id,
            customer: order.customer.clone(),
            tier: order.tier,
            total_eur: order.total_eur,
            threshold_eur: from_cents(ALERT_THRESHOLD_EUR_CENTS),
        }
    }
}

/// Why an order went to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// Not JSON at all (truncated, say).
    MalformedJson(String),
    /// JSON, but not an order: a missing field, a wrong type.
    SchemaMismatch(String),
    /// The amount is not positive, not the sum of the items, or implausible.
    InvalidAmount(String),
    /// A currency the pipeline has no VAT or exchange rate for.
    UnsupportedCurrency(String),
}

impl OrderError {
    /// The class name for the `error.class` header of the dead-letter record.
    pub fn class(&self) -> &'static str {
        match self {
            OrderError::MalformedJson(_) => "MalformedJson",
            OrderError::SchemaMismatch(_) => "SchemaMismatch",
            OrderError::InvalidAmount(_) => "InvalidAmount",
            OrderError::UnsupportedCurrency(_) => "UnsupportedCurrency",
        }
    }
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::MalformedJson(m)
            | OrderError::SchemaMismatch(m)
            | OrderError::InvalidAmount(m) => f.write_str(m),
            OrderError::UnsupportedCurrency(c) => write!(f, "unsupported currency {c:?}"),
        }
    }
}

impl std::error::Error for OrderError {}

/// A decimal amount in cents, if it is a plausible one.
pub fn to_cents(amount: f64) -> Option<i64> {
    let cents = (amount * 100.0).round();
    (cents.is_finite() && cents.abs() <= MAX_AMOUNT_CENTS as f64).then_some(cents as i64)
}

/// Cents as the decimal amount written to JSON.
pub fn from_cents(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// `cents * numerator / denominator`, rounded half up (for non-negative cents).
fn scale(cents: i64, numerator: i64, denominator: i64) -> i64 {
    (cents * numerator + denominator / 2) / denominator
}

/// VAT in basis points and the euro exchange rate in millionths, per currency.
/// Stand-ins for a reference-data lookup.
fn currency_rates(currency: &str) -> Option<(i64, i64)> {
    match currency {
        "EUR" => Some((2_100, 1_000_000)),
        "GBP" => Some((2_000, 1_170_000)),
        "SEK" => Some((2_500, 87_000)),
        // US sales tax is not VAT and is not added here.
        "USD" => Some((0, 920_000)),
        _ => None,
    }
}

/// The customer's tier. Stands in for a lookup in the customer table: a hash
/// of the id, so every run and the tests agree.
pub fn customer_tier(customer: &str) -> Tier {
    let hash = customer.bytes().fold(0x811C_9DC5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    match hash % 100 {
        0..10 => Tier::Gold,
        10..40 => Tier::Silver,
        _ => Tier::Bronze,
    }
}

/// Parses, checks and enriches one `orders` value.
///
/// # Errors
/// The [`OrderError`] that sends the record to the dead-letter topic.
pub fn enrich(value: &[u8]) -> Result<EnrichedOrder, OrderError> {
    let order: Order = serde_json::from_slice(value).map_err(|e| {
        if e.is_data() {
            OrderError::SchemaMismatch(e.to_string())
        } else {
            OrderError::MalformedJson(e.to_string())
        }
    })?;
    let (vat_bp, eur_ppm) = currency_rates(&order.currency)
        .ok_or_else(|| OrderError::UnsupportedCurrency(order.currency.clone()))?;
    let amount = to_cents(order.amount).filter(|&a| a > 0).ok_or_else(|| {
        OrderError::InvalidAmount(format!("amount {} is not positive", order.amount))
    })?;
    let mut items_sum = 0i64;
    for item in &order.items {
        let price = to_cents(item.unit_price)
            .filter(|&p| p > 0)
            .ok_or_else(|| {
                OrderError::InvalidAmount(format!("{}: unit price {}", item.sku, item.unit_price))
            })?;
        items_sum = items_sum.saturating_add(price.saturating_mul(i64::from(item.quantity)));
    }
    if items_sum != amount {
        return Err(OrderError::InvalidAmount(format!(
            "amount {} is not the sum of its items ({})",
            order.amount,
            from_cents(items_sum)
        )));
    }
    let tier = customer_tier(&order.customer);
    let discount = scale(amount, tier.discount_percent(), 100);
    let net = amount - discount;
    let vat = scale(net, vat_bp, 10_000);
    let total = net + vat;
    Ok(EnrichedOrder {
        order_id: order.order_id,
        tier,
        lines: order.items.len(),
        amount: from_cents(amount),
        discount: from_cents(discount),
        vat_rate: vat_bp as f64 / 10_000.0,
        vat: from_cents(vat),
        total: from_cents(total),
        total_eur: from_cents(scale(total, eur_ppm, 1_000_000)),
        created_at: order.timestamp,
        customer: order.customer,
        currency: order.currency,
    })
}

/// How a generated order was broken on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// The JSON is cut in half.
    TruncatedJson,
    /// The amount is negated.
    NegativeAmount,
    /// The `currency` field is missing.
    MissingCurrency,
}

/// One generated `orders` record.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedOrder {
    /// The customer: the record key.
    pub key: String,
    /// The JSON value.
    pub value: Vec<u8>,
    /// How it was broken, if it was.
    pub defect: Option<Defect>,
}

/// The order with this id, as the checkout service would write it at
/// `timestamp_ms`. Everything but the timestamp is a function of the id, so a
/// test can tell what any run produced.
pub fn generate_order(order_id: u64, timestamp_ms: i64) -> GeneratedOrder {
    let mut rng = fastrand::Rng::with_seed(order_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
    // Squaring skews orders towards low customer numbers: a few big
    // customers and a long tail, as real shops have.
    let customer_no = (rng.f64().powi(2) * f64::from(CUSTOMERS)) as u32;
    let customer = format!("cust-{:05}", customer_no.min(CUSTOMERS - 1));
    let currency = match rng.u32(0..100) {
        0..60 => "EUR",
        60..80 => "USD",
        80..95 => "GBP",
        _ => "SEK",
    };
    let mut amount = 0i64;
    let items: Vec<LineItem> = (0..rng.u32(1..=4))
        .map(|_| {
            let quantity = rng.u32(1..=3);
            // Mostly small items, now and then an expensive one.
            let price = if rng.u32(0..100) < 2 {
                rng.i64(20_000..=150_000)
            } else {
                rng.i64(199..=4_999)
            };
            amount += price * i64::from(quantity);
            LineItem {
                sku: format!("sku-{:05}", rng.u32(0..20_000)),
                quantity,
                unit_price: from_cents(price),
            }
        })
        .collect();
    let defect = (rng.u32(0..ONE_MALFORMED_IN) == 0).then(|| match rng.u32(0..3) {
        0 => Defect::TruncatedJson,
        1 => Defect::NegativeAmount,
        _ => Defect::MissingCurrency,
    });
    let mut order = Order {
        order_id,
        customer: customer.clone(),
        items,
        amount: from_cents(amount),
        currency: currency.to_string(),
        timestamp: timestamp_ms,
    };
    if defect == Some(Defect::NegativeAmount) {
        order.amount = -order.amount;
    }
    let value = match defect {
        Some(Defect::MissingCurrency) => {
            let mut json = serde_json::to_value(&order).unwrap_or_default();
            if let Some(fields) = json.as_object_mut() {
                fields.remove("currency");
            }
            json.to_string().into_bytes()
        }
        Some(Defect::TruncatedJson) => {
            let mut json = serde_json::to_vec(&order).unwrap_or_default();
            json.truncate(json.len() / 2);
            json
        }
        _ => serde_json::to_vec(&order).unwrap_or_default(),
    };
    GeneratedOrder {
        key: customer,
        value,
        defect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrichment_computes_discount_vat_and_euros_in_cents() {
        // Find a gold customer so the discount shows.
        let customer = (0..CUSTOMERS)
            .map(|n| format!("cust-{n:05}"))
            .find(|c| customer_tier(c) == Tier::Gold)
            .unwrap();
        let order = Order {
            order_id: 7,
            customer: customer.clone(),
            items: vec![
                LineItem {
                    sku: "a".into(),
                    quantity: 3,
                    unit_price: 19.99,
                },
                LineItem {
                    sku: "b".into(),
                    quantity: 1,
                    unit_price: 0.03,
                },
            ],
            amount: 60.0,
            currency: "GBP".into(),
            timestamp: 1,
        };
        let e = enrich(&serde_json::to_vec(&order).unwrap()).unwrap();
        // 6000 - 5% (300) = 5700; VAT 20% = 1140; total 6840; EUR 1.17 = 8002.8.
        assert_eq!(e.discount, 3.0);
        assert_eq!(e.vat, 11.4);
        assert_eq!(e.total_cents(), Some(6_840));
        assert_eq!(e.total_eur_cents(), Some(8_003));
        assert_eq!((e.customer, e.tier, e.lines), (customer, Tier::Gold, 2));
    }

    #[test]
    fn each_defect_has_its_error_class() {
        let mut seen = std::collections::HashMap::new();
        for id in 0..20_000 {
            let g = generate_order(id, 0);
            let outcome = enrich(&g.value);
            match g.defect {
                None => assert!(outcome.is_ok(), "order {id}: {outcome:?}"),
                Some(d) => {
                    let class = outcome.unwrap_err().class();
                    assert_eq!(*seen.entry(d).or_insert(class), class);
                }
            }
        }
        assert_eq!(seen.get(&Defect::TruncatedJson), Some(&"MalformedJson"));
        assert_eq!(seen.get(&Defect::NegativeAmount), Some(&"InvalidAmount"));
        assert_eq!(seen.get(&Defect::MissingCurrency), Some(&"SchemaMismatch"));
    }

    #[test]
    fn generation_depends_only_on_the_id() {
        assert_eq!(generate_order(42, 5), generate_order(42, 5));
        assert_ne!(generate_order(42, 5).value, generate_order(43, 5).value);
    }
}
