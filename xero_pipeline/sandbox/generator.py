"""A deterministic generator of believable Xero organisations.

Same seed, same size, same `as_of` date: the same organisation, byte for byte. Reference data
(contacts, groups, accounts) is small and generated whole. Invoices and credit notes can number
100,000, so only a compact stub per document is kept; its line items and totals are expanded from
the stub's own seed each time the document is read, which keeps memory flat as size grows.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xero_pipeline.months import SANDBOX_HISTORY_MONTHS, month_start

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Plans (Organisation.Class) by tenant: an older one, then values new in Xero's 2026 OpenAPI.
ORGANISATION_CLASSES = ("PREMIUM", "ULTRA", "SIMPLE", "BASICLITE")
FOUR_PLACE_SHARE = 20  # one line in this many has a unit price to four decimal places

REVENUE_CODES = ("200", "260", "270")
EXPENSE_CODES = ("310", "400", "404", "412", "429", "453", "461", "469", "489", "493")
ARCHIVED_REVENUE_CODE = "210"

# Names chosen to break naive matching, quoting and filters; customers of the first tenant.
AWKWARD_CUSTOMER_NAMES = (
    "O'Brien & Sons Ltd",
    'Smith "Best" Bakery',
    "Café Zoë",
    "Trailing Space Traders ",
    "  Leading Space Landscaping",
    "Müller GmbH",
    "Acme Ltd",
    "ACME Limited",
    "Johnson and Johnson Plumbing",
    "Kiwi Widgets Pty Ltd",
    "Big Bob's Burgers, Inc.",
    "Déjà Vu Design LLC",
    "100% Pure Juice Co.",
    "Back\\slash Studio",
    "Ngā Tāonga Trust",
    "Smith & Co",
    "Smith and Co",
)
AWKWARD_SUPPLIER_NAMES = ("PowerCo (Energy) Ltd", "Office Supplies Direct", "Telco: Fibre & Mobile")

_ADJECTIVES = (
    "Blue",
    "Golden",
    "Northern",
    "Rapid",
    "Silver",
    "Coastal",
    "Summit",
    "Evergreen",
    "Bright",
    "Harbour",
    "Alpine",
    "Urban",
    "Pacific",
    "Southern",
    "Clever",
    "Iron",
    "Maple",
    "Crimson",
    "Kauri",
    "Totara",
    "Rimu",
    "Meridian",
    "Copper",
    "Granite",
)
_NOUNS = (
    "Fern",
    "Bay",
    "Ridge",
    "Peak",
    "River",
    "Stone",
    "Harvest",
    "Beacon",
    "Anchor",
    "Forge",
    "Orchard",
    "Lantern",
    "Compass",
    "Falcon",
    "Kiwi",
    "Tui",
    "Pohutukawa",
    "Summit",
    "Vine",
    "Meadow",
    "Cedar",
    "Wharf",
    "Quarry",
    "Grove",
)
_TRADES = (
    "Plumbing",
    "Design",
    "Consulting",
    "Bakery",
    "Builders",
    "Studio",
    "Engineering",
    "Cafe",
    "Logistics",
    "Electrical",
    "Landscaping",
    "Software",
    "Media",
    "Joinery",
    "Catering",
)
_SUFFIXES = ("Ltd", "Limited", "Pty Ltd", "LLC", "Inc", "& Co", "", "", "", "Group", "Trust")
_FIRST = (
    "Aroha",
    "Ben",
    "Chloe",
    "Dmitri",
    "Emma",
    "Fatima",
    "George",
    "Hana",
    "Ivan",
    "Jess",
    "Kiri",
    "Liam",
    "Mere",
    "Noah",
    "Olivia",
    "Priya",
    "Quinn",
    "Rawiri",
    "Sofia",
    "Tama",
)
_LAST = (
    "Anderson",
    "Brown",
    "Chen",
    "Davies",
    "Edwards",
    "Fraser",
    "Grey",
    "Hohaia",
    "Ito",
    "Jones",
    "Kaur",
    "Lee",
    "Morgan",
    "Ngata",
    "O'Neill",
    "Patel",
    "Reid",
    "Singh",
    "Taylor",
    "Walker",
)
_CITIES = {
    "NZ": (
        ("Auckland", "Auckland", "1010"),
        ("Wellington", "Wellington", "6011"),
        ("Christchurch", "Canterbury", "8011"),
        ("Dunedin", "Otago", "9016"),
    ),
    "AU": (
        ("Sydney", "NSW", "2000"),
        ("Melbourne", "VIC", "3000"),
        ("Brisbane", "QLD", "4000"),
        ("Perth", "WA", "6000"),
    ),
}
_SALES_ITEMS = (
    ("BEANS-1KG", "Single origin beans 1kg"),
    ("BEANS-250", "House blend 250g"),
    ("SUB-MONTH", "Monthly subscription"),
    ("CONSULT", "Consulting hours"),
    ("TRAIN", "Barista training session"),
    ("", "Equipment servicing"),
    ("", "Delivery & handling"),
    ("GIFT-BOX", 'Gift box "Deluxe"'),
)
_EXPENSE_ITEMS = (
    "Green coffee beans",
    "Packaging",
    "Electricity",
    "Rent",
    "Fibre broadband",
    "Stationery",
    "Advertising",
    "Bank fees",
    "Flights",
    "Accounting services",
)
_TRACKING_REGIONS = ("North", "South", "East", "West")

# Xero's sample chart of accounts (NZ flavour): code, name, type, class, status, system account.
_CHART: tuple[tuple[str | None, str, str, str, str, str | None], ...] = (
    ("090", "Business Bank Account", "BANK", "ASSET", "ACTIVE", None),
    (None, "Savings Account", "BANK", "ASSET", "ACTIVE", None),
    ("200", "Sales", "REVENUE", "REVENUE", "ACTIVE", None),
    ("210", "Consulting Income (old)", "REVENUE", "REVENUE", "ARCHIVED", None),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "ACTIVE", None),
    ("270", "Interest Income", "OTHERINCOME", "REVENUE", "ACTIVE", None),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "ACTIVE", None),
    ("400", "Advertising", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("404", "Bank Fees", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("412", "Consulting & Accounting", "EXPENSE", "EXPENSE", "ACTIVE", None),
    ("425", "Freight (old)", "EXPENSE", "EXPENSE", "ARCHIVED", None),
    ("429", "General Expenses", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("453", "Office Expenses", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("461", "Printing & Stationery", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("469", "Rent", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("489", "Telephone & Internet", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("493", "Travel - National", "OVERHEADS", "EXPENSE", "ACTIVE", None),
    ("610", "Accounts Receivable", "CURRENT", "ASSET", "ACTIVE", "DEBTORS"),
    ("630", "Inventory", "INVENTORY", "ASSET", "ACTIVE", None),
    ("710", "Office Equipment", "FIXED", "ASSET", "ACTIVE", None),
    ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "ACTIVE", "CREDITORS"),
    ("820", "GST", "CURRLIAB", "LIABILITY", "ACTIVE", "GST"),
    ("900", "Loan", "TERMLIAB", "LIABILITY", "ACTIVE", None),
    ("960", "Retained Earnings", "EQUITY", "EQUITY", "ACTIVE", "RETAINEDEARNINGS"),
    ("970", "Owner A Funds Introduced", "EQUITY", "EQUITY", "ACTIVE", None),
)

_TAX = {  # country -> (rate, sales tax type, purchases tax type)
    "NZ": (Decimal("0.15"), "OUTPUT2", "INPUT2"),
    "AU": (Decimal("0.10"), "OUTPUT", "INPUT"),
}
_FOREIGN_RATES = {  # base currency -> {currency: units of currency per unit of base}
    "NZD": {"USD": Decimal("0.59"), "AUD": Decimal("0.91"), "GBP": Decimal("0.46")},
    "AUD": {"USD": Decimal("0.65"), "NZD": Decimal("1.09"), "EUR": Decimal("0.60")},
}


@dataclass(frozen=True)
class OrgSpec:
    """One organisation (tenant) to generate."""

    name: str
    country: str = "NZ"
    base_currency: str = "NZD"
    contacts: int = 150
    invoices: int = 1200
    credit_notes: int = 60
    months: int = 24
    max_lines: int = 6
    customer_group: str | None = "Datagate"


def default_orgs(size: str) -> tuple[OrgSpec, ...]:
    """The organisations of a named size: two tenants, one with a `Datagate` group, one without."""
    shapes = {
        "tiny": dict(contacts=40, invoices=120, credit_notes=12, months=12, max_lines=4),
        "small": dict(
            contacts=150,
            invoices=1200,
            credit_notes=60,
            months=SANDBOX_HISTORY_MONTHS,
            max_lines=6,
        ),
        "large": dict(
            contacts=20_000, invoices=100_000, credit_notes=5_000, months=60, max_lines=19
        ),
    }
    if size not in shapes:
        raise ValueError(f"unknown sandbox size {size!r}; choose one of {', '.join(shapes)}")
    shape = shapes[size]
    return (
        OrgSpec(name="Harbour & Co Coffee Roasters", **shape),
        OrgSpec(
            name="Southern Cross Software Pty Ltd",
            country="AU",
            base_currency="AUD",
            customer_group=None,
            **shape,
        ),
    )


_NAME_PLACES = (
    "Harbour", "Kauri", "Tasman", "Pohutukawa", "Riverbend", "Summit", "Coastal", "Ironbark",
    "Wattle", "Totara", "Beacon", "Lakeside", "Copperleaf", "Bluegum", "Kowhai", "Redwood",
    "Orchard", "Meridian", "Saltwater", "Highland",
)  # fmt: skip
_NAME_TRADES = (
    "Coffee Roasters", "Software", "Joinery", "Plumbing", "Design Studio", "Bakery",
    "Logistics", "Surf Co", "Dental", "Landscaping", "Brewing", "Accounting", "Electrical",
    "Print Works", "Outfitters",
)  # fmt: skip


def generated_org(size: str, seed: int, index: int, taken: tuple[str, ...] = ()) -> OrgSpec:
    """Organisation `index` of a generated set (`SandboxConfig(tenants=N)`, `add_organisation`):
    the shape of `size`, a name drawn from the seed (distinct from `taken` and from every other
    index), New Zealand or Australia by turns."""
    combos = [f"{place} {trade}" for place in _NAME_PLACES for trade in _NAME_TRADES]
    random.Random(f"{seed}:org-names").shuffle(combos)
    name = combos[index % len(combos)]
    if index >= len(combos):
        name = f"{name} {index // len(combos) + 1}"
    australian = index % 2 == 1
    name = f"{name} {'Pty Ltd' if australian else 'Ltd'}"
    while name in taken:
        name = f"{name} (another)"
    base = default_orgs(size)[0]
    return dataclasses.replace(
        base,
        name=name,
        country="AU" if australian else "NZ",
        base_currency="AUD" if australian else "NZD",
        customer_group=None if australian else "Datagate",
    )


@dataclass(slots=True)
class DocStub:
    """What the sandbox keeps of a generated invoice or credit note until it is read."""

    id: str
    number: str
    type: str
    status: str
    contact_id: str
    date: date
    due_date: date
    updated: datetime
    currency: str
    rate: Decimal
    amount_types: str
    reference: str
    line_seed: int
    n_lines: int
    paid_on: date | None = None
    partly_paid: bool = False


@dataclass
class GeneratedOrg:
    tenant_id: str
    spec: OrgSpec
    organisation: dict[str, Any]
    contacts: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    members: dict[str, list[str]]
    accounts: list[dict[str, Any]]
    invoices: list[DocStub]
    credit_notes: list[DocStub]
    first_month: date
    tax_rate: Decimal = field(default=Decimal("0.15"))


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _at(day: date, rng: random.Random) -> datetime:
    """A working-hours moment on `day`, in UTC."""
    seconds = rng.randint(8 * 3600, 18 * 3600) + rng.random()
    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=seconds)


class OrgGenerator:
    """Generates one tenant. Every random draw comes from a `random.Random` seeded by
    (seed, tenant index, purpose), so adding a stream of draws never shifts another."""

    def __init__(self, spec: OrgSpec, seed: int, index: int, as_of: date) -> None:
        self.spec, self.seed, self.index, self.as_of = spec, seed, index, as_of
        self.cutoff = datetime.combine(as_of, time(0), tzinfo=UTC) - timedelta(seconds=1)
        self.first_month = month_start(as_of, spec.months - 1)
        self.tax_rate, self.sales_tax, self.purchase_tax = _TAX.get(spec.country, _TAX["NZ"])

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.index}:{purpose}")

    def _clip(self, moment: datetime) -> datetime:
        return min(moment, self.cutoff)

    def generate(self) -> GeneratedOrg:
        rng = self.rng("org")
        tenant_id = new_id(rng)
        accounts = self._accounts()
        contacts = self._contacts()
        groups, members = self._groups(contacts)
        invoices = self._documents(contacts, "invoice", self.spec.invoices)
        credit_notes = self._documents(contacts, "credit", self.spec.credit_notes)
        return GeneratedOrg(
            tenant_id=tenant_id,
            spec=self.spec,
            organisation=self._organisation(tenant_id, rng),
            contacts=contacts,
            groups=groups,
            members=members,
            accounts=accounts,
            invoices=invoices,
            credit_notes=credit_notes,
            first_month=self.first_month,
            tax_rate=self.tax_rate,
        )

    def _organisation(self, tenant_id: str, rng: random.Random) -> dict[str, Any]:
        spec = self.spec
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"
        created = datetime.combine(self.first_month, time(9), tzinfo=UTC) - timedelta(days=45)
        return {
            "OrganisationID": tenant_id,
            "APIKey": "",
            "Name": spec.name,
            "LegalName": spec.name,
            "PaysTax": True,
            "Version": spec.country,
            "OrganisationType": "COMPANY",
            "BaseCurrency": spec.base_currency,
            "CountryCode": spec.country,
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "SalesTaxBasis": "INVOICE",
            "SalesTaxPeriod": "TWOMONTHS",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Inclusive",
            "CreatedDateUTC": created,
            "Timezone": "NEWZEALANDSTANDARDTIME"
            if spec.country == "NZ"
            else "AUSEASTERNSTANDARDTIME",
            "OrganisationEntityType": "COMPANY",
            "ShortCode": "!" + "".join(rng.choice(letters) for _ in range(5)),
            "Class": ORGANISATION_CLASSES[self.index % len(ORGANISATION_CLASSES)],
            "Edition": "BUSINESS",
            "LineOfBusiness": "Coffee roasting" if spec.country == "NZ" else "Software",
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
        }

    def _accounts(self) -> list[dict[str, Any]]:
        rng = self.rng("accounts")
        updated_base = datetime.combine(self.first_month, time(10), tzinfo=UTC) - timedelta(days=30)
        accounts = []
        for code, name, type_, class_, status, system in _CHART:
            account: dict[str, Any] = {
                "AccountID": new_id(rng),
                "Code": code,
                "Name": name,
                "Status": status,
                "Type": type_,
                "TaxType": self._account_tax(class_),
                "Class": class_,
                "EnablePaymentsToAccount": False,
                "ShowInExpenseClaims": class_ == "EXPENSE",
                "BankAccountType": "BANK" if type_ == "BANK" else "",
                "ReportingCode": f"{class_[:3]}.{code or 'BNK'}",
                "ReportingCodeName": name,
                "HasAttachments": False,
                "UpdatedDateUTC": updated_base + timedelta(minutes=rng.randint(0, 600)),
                "AddToWatchlist": False,
            }
            if type_ == "BANK":
                account["BankAccountNumber"] = f"12-3456-{rng.randint(1000000, 9999999)}-00"
                account["CurrencyCode"] = self.spec.base_currency
            if system:
                account["SystemAccount"] = system
            if status == "ARCHIVED":
                account["UpdatedDateUTC"] = self._clip(
                    datetime.combine(self.first_month, time(11), tzinfo=UTC)
                    + timedelta(days=30 * self.spec.months // 2)
                )
            accounts.append(account)
        return accounts

    def _account_tax(self, class_: str) -> str:
        if class_ == "REVENUE":
            return self.sales_tax
        if class_ == "EXPENSE":
            return self.purchase_tax
        return "NONE"

    def _contact_names(self, rng: random.Random, count: int) -> list[str]:
        names: list[str] = []
        seen: set[str] = set()
        if self.index == 0:
            names.extend(AWKWARD_CUSTOMER_NAMES)
            names.extend(AWKWARD_SUPPLIER_NAMES)
            seen.update(names)
        while len(names) < count:
            suffix = rng.choice(_SUFFIXES)
            base = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_TRADES)}"
            name = f"{base} {suffix}".strip()
            if name in seen:
                name = f"{name} ({len(names)})"
            seen.add(name)
            names.append(name)
        return names[:count]

    def _contacts(self) -> list[dict[str, Any]]:
        rng = self.rng("contacts")
        count = self.spec.contacts
        names = self._contact_names(rng, count)
        n_awkward_customers = len(AWKWARD_CUSTOMER_NAMES) if self.index == 0 else 0
        n_awkward = n_awkward_customers + (len(AWKWARD_SUPPLIER_NAMES) if self.index == 0 else 0)
        span = max(
            (self.cutoff - datetime.combine(self.first_month, time(0), tzinfo=UTC)), timedelta(1)
        )
        cities = _CITIES.get(self.spec.country, _CITIES["NZ"])
        contacts = []
        for position, name in enumerate(names):
            if position < n_awkward_customers:
                is_customer, is_supplier = True, False
            elif position < n_awkward:
                is_customer, is_supplier = False, True
            else:
                roll = rng.random()
                is_customer = roll < 0.65
                is_supplier = 0.55 <= roll < 0.90
            archived = position >= n_awkward and rng.random() < 0.08
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            city, region, postcode = rng.choice(cities)
            slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20] or "contact"
            contact: dict[str, Any] = {
                "ContactID": new_id(rng),
                "ContactNumber": f"C{position + 1:05d}" if rng.random() < 0.5 else None,
                "AccountNumber": f"ACC-{position + 1:05d}" if rng.random() < 0.3 else None,
                "ContactStatus": "ARCHIVED" if archived else "ACTIVE",
                "Name": name,
                "FirstName": first,
                "LastName": last,
                "EmailAddress": f"{first.lower()}@{slug}.example",
                "BankAccountDetails": "",
                "Addresses": [
                    {
                        "AddressType": "POBOX",
                        "AddressLine1": f"PO Box {rng.randint(1, 9999)}",
                        "City": city,
                        "Region": region,
                        "PostalCode": postcode,
                        "Country": self.spec.country,
                    },
                    {
                        "AddressType": "STREET",
                        "AddressLine1": f"{rng.randint(1, 400)} {rng.choice(_NOUNS)} Street",
                        "City": city,
                        "Region": region,
                        "PostalCode": postcode,
                        "Country": self.spec.country,
                    },
                ],
                "Phones": [
                    {
                        "PhoneType": "DEFAULT",
                        "PhoneNumber": f"{rng.randint(2000000, 9999999)}",
                        "PhoneAreaCode": "09",
                        "PhoneCountryCode": "64",
                    },
                    {
                        "PhoneType": "DDI",
                        "PhoneNumber": "",
                        "PhoneAreaCode": "",
                        "PhoneCountryCode": "",
                    },
                    {
                        "PhoneType": "FAX",
                        "PhoneNumber": "",
                        "PhoneAreaCode": "",
                        "PhoneCountryCode": "",
                    },
                    {
                        "PhoneType": "MOBILE",
                        "PhoneNumber": f"21{rng.randint(100000, 999999)}",
                        "PhoneAreaCode": "",
                        "PhoneCountryCode": "64",
                    },
                ],
                "UpdatedDateUTC": self._clip(
                    datetime.combine(self.first_month, time(0), tzinfo=UTC) + span * rng.random()
                ),
                "ContactGroups": [],
                "IsSupplier": is_supplier,
                "IsCustomer": is_customer,
                "DefaultCurrency": self.spec.base_currency if rng.random() < 0.3 else None,
                "ContactPersons": [],
                "HasAttachments": False,
                "HasValidationErrors": False,
            }
            contacts.append(contact)
        if self.index == 0 and count > n_awkward + 3:
            # An archived customer and a GDPR-erased one: both must be handled, neither imported.
            contacts[n_awkward].update(ContactStatus="ARCHIVED", IsCustomer=True)
            contacts[n_awkward + 1].update(ContactStatus="GDPRREQUEST", IsCustomer=True)
        return contacts

    def _groups(
        self, contacts: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        rng = self.rng("groups")
        customers = [c for c in contacts if c["IsCustomer"]]
        suppliers = [c for c in contacts if c["IsSupplier"] and not c["IsCustomer"]]
        groups: list[dict[str, Any]] = []
        members: dict[str, list[str]] = {}

        def add(name: str, status: str, chosen: list[dict[str, Any]]) -> None:
            group = {"ContactGroupID": new_id(rng), "Name": name, "Status": status}
            groups.append(group)
            members[group["ContactGroupID"]] = [c["ContactID"] for c in chosen]

        if self.spec.customer_group:
            # Most customers (awkward names included), an archived customer and one supplier.
            chosen = [c for c in customers if c["ContactStatus"] == "ARCHIVED"][:1]
            chosen += [
                c for c in customers if c["ContactStatus"] == "ACTIVE" and rng.random() < 0.7
            ]
            chosen += suppliers[:1]
            add(self.spec.customer_group, "ACTIVE", chosen)
        add("VIP Customers", "ACTIVE", [c for c in customers if rng.random() < 0.15])
        add("Wholesale", "ACTIVE", [c for c in customers if rng.random() < 0.2])
        add("Spring Promo (retired)", "DELETED", customers[:3])
        return groups, members

    def _month_counts(self, total: int, rng: random.Random) -> list[int]:
        """Spread documents over the months, growing gently as the business does."""
        months = self.spec.months
        weights = [1 + 0.5 * m / max(months - 1, 1) for m in range(months)]
        scale = total / sum(weights)
        counts = [int(w * scale) for w in weights]
        for m in rng.sample(range(months), k=min(months, total - sum(counts))):
            counts[m] += 1
        while sum(counts) < total:  # only when months < remainder, i.e. tiny months counts
            counts[rng.randrange(months)] += 1
        return counts

    def _documents(self, contacts: list[dict[str, Any]], kind: str, total: int) -> list[DocStub]:
        rng = self.rng(kind)
        customers = [c["ContactID"] for c in contacts if c["IsCustomer"]] or [
            c["ContactID"] for c in contacts
        ]
        suppliers = [c["ContactID"] for c in contacts if c["IsSupplier"]] or customers
        if not contacts:
            return []
        base = self.spec.base_currency
        foreign = _FOREIGN_RATES.get(base, {})
        stubs: list[DocStub] = []
        counters = {"sales": 0, "purchases": 0}
        for m, count in enumerate(self._month_counts(total, rng)):
            first = month_start(self.first_month, -m)
            # The current month runs to today, so it has at least one day whatever the date:
            # the organisation holds the same documents on the 1st as on the 31st.
            last = min(month_start(first, -1) - timedelta(days=1), self.as_of)
            days = (last - first).days
            dates = sorted(first + timedelta(days=rng.randint(0, days)) for _ in range(count))
            for day in dates:
                sales = rng.random() < (0.75 if kind == "credit" else 0.7)
                counters["sales" if sales else "purchases"] += 1
                if kind == "invoice":
                    type_ = "ACCREC" if sales else "ACCPAY"
                    number = (
                        f"INV-{counters['sales']:05d}"
                        if sales
                        else (f"SUP-{rng.randint(1000, 99999)}" if rng.random() < 0.8 else "")
                    )
                else:
                    type_ = "ACCRECCREDIT" if sales else "ACCPAYCREDIT"
                    number = (
                        f"CN-{counters['sales']:05d}" if sales else f"SCN-{rng.randint(100, 9999)}"
                    )
                status = self._status(day, kind, rng)
                currency, rate = base, Decimal(1)
                if foreign and rng.random() < 0.15:
                    currency = rng.choice(sorted(foreign))
                    jitter = Decimal(rng.randint(-300, 300)) / Decimal(10000)
                    rate = (foreign[currency] * (1 + jitter)).quantize(Decimal("0.000001"))
                created = _at(day, rng)
                paid_on = None
                updated = created
                if status == "PAID":
                    paid_on = min(
                        day + timedelta(days=rng.randint(3, 45)),
                        max(day, self.as_of - timedelta(1)),
                    )
                    updated = max(created, _at(paid_on, rng))
                elif status in ("VOIDED", "DELETED"):
                    updated = created + timedelta(
                        days=rng.randint(1, 20), seconds=rng.randint(0, 9999)
                    )
                roll = rng.random()
                amount_types = (
                    "Exclusive" if roll < 0.65 else ("Inclusive" if roll < 0.9 else "NoTax")
                )
                stubs.append(
                    DocStub(
                        id=new_id(rng),
                        number=number,
                        type=type_,
                        status=status,
                        contact_id=rng.choice(customers if sales else suppliers),
                        date=day,
                        due_date=day + timedelta(days=rng.choice((7, 14, 20, 30))),
                        updated=self._clip(updated),
                        currency=currency,
                        rate=rate,
                        amount_types=amount_types,
                        reference=f"PO-{rng.randint(100, 9999)}" if rng.random() < 0.4 else "",
                        line_seed=rng.getrandbits(63),
                        n_lines=rng.randint(1, self.spec.max_lines),
                        paid_on=paid_on,
                        partly_paid=status == "AUTHORISED" and rng.random() < 0.2,
                    )
                )
        return stubs

    def _status(self, day: date, kind: str, rng: random.Random) -> str:
        recent = (self.as_of - day).days < 60
        if kind == "credit":
            table = (
                ("AUTHORISED", 0.45),
                ("PAID", 0.80),
                ("DRAFT", 0.88),
                ("SUBMITTED", 0.91),
                ("VOIDED", 0.96),
                ("DELETED", 1.0),
            )
        elif recent:
            table = (
                ("AUTHORISED", 0.55),
                ("PAID", 0.80),
                ("DRAFT", 0.90),
                ("SUBMITTED", 0.95),
                ("VOIDED", 0.98),
                ("DELETED", 1.0),
            )
        else:
            table = (
                ("PAID", 0.80),
                ("AUTHORISED", 0.85),
                ("VOIDED", 0.91),
                ("DELETED", 0.95),
                ("DRAFT", 0.98),
                ("SUBMITTED", 1.0),
            )
        roll = rng.random()
        return next(status for status, upto in table if roll < upto)


class DocumentExpander:
    """Turns a stub into the full document, with line items and totals that reconcile as Xero's
    do: lines sum to SubTotal, SubTotal + TotalTax = Total."""

    def __init__(self, org: GeneratedOrg) -> None:
        self.org = org
        self.tax_rate = org.tax_rate
        _, self.sales_tax, self.purchase_tax = _TAX.get(org.spec.country, _TAX["NZ"])
        self.accounts = {a["Code"]: a for a in org.accounts if a.get("Code")}
        rng = random.Random(f"tracking:{org.tenant_id}")
        self.tracking_category = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.history_cutoff = month_start(org.first_month, -12)

    def lines(self, stub: DocStub) -> list[dict[str, Any]]:
        rng = random.Random(stub.line_seed)
        sales = stub.type in ("ACCREC", "ACCRECCREDIT")
        lines = []
        for _ in range(stub.n_lines):
            bits = rng.getrandbits(128)
            line_id = str(uuid.UUID(int=bits, version=4))
            if sales:
                roll = rng.random()
                code = "200" if roll < 0.7 else ("260" if roll < 0.88 else "270")
                if roll > 0.95 and stub.date < self.history_cutoff:
                    code = ARCHIVED_REVENUE_CODE
                item_code, description = rng.choice(_SALES_ITEMS)
            else:
                code = rng.choice(EXPENSE_CODES)
                item_code, description = "", rng.choice(_EXPENSE_ITEMS)
            quantity = rng.choice(
                (
                    Decimal(1),
                    Decimal(1),
                    Decimal(2),
                    Decimal(3),
                    Decimal(5),
                    Decimal(10),
                    Decimal("0.5"),
                    Decimal("1.25"),
                )
            )
            unit = Decimal(rng.randint(500, 250_000)) / 100 + fine_price(bits)
            discount = (
                rng.choice((Decimal(5), Decimal(10), Decimal("12.5")))
                if sales and rng.random() < 0.1
                else None
            )
            tracking = (
                [
                    {
                        "TrackingCategoryID": self.tracking_category,
                        "Name": "Region",
                        "Option": rng.choice(_TRACKING_REGIONS),
                    }
                ]
                if rng.random() < 0.3
                else []
            )
            line: dict[str, Any] = {
                "Description": description,
                "Quantity": quantity,
                "UnitAmount": unit,
                "ItemCode": item_code or None,
                "AccountCode": code,
                "AccountID": self.accounts[code]["AccountID"],
                "DiscountRate": discount,
                "Tracking": tracking,
            }
            if stub.type in ("ACCREC", "ACCPAY"):
                # Credit-note lines come without LineItemID (XERO_API_NOTES.md; the sandbox
                # picks the harder, historically observed behaviour).
                line = {"LineItemID": line_id, **line}
            lines.append(line)
        return price_lines(
            lines, stub.amount_types, self.tax_rate, self.sales_tax if sales else self.purchase_tax
        )


def fine_price(bits: int) -> Decimal:
    """The third and fourth decimal places of a unit price, for about one line in twenty: some
    organisations price to four places (Xero then rounds UnitAmount to two unless a read asks
    `unitdp=4`). Taken from bits the line has drawn already, so no other draw moves."""
    if bits % FOUR_PLACE_SHARE:
        return ZERO
    ten_thousandths = 1 + (bits >> 16) % 99
    if ten_thousandths % 10 == 0:  # keep the fourth place: 12.3450 would be three places
        ten_thousandths += 1
    return Decimal(ten_thousandths) / 10000


def price_lines(
    lines: list[dict[str, Any]], amount_types: str, tax_rate: Decimal, tax_type: str
) -> list[dict[str, Any]]:
    """Set LineAmount, TaxAmount and TaxType the way Xero computes them (LineAmount is after
    discount and includes tax when amounts are Inclusive)."""
    for line in lines:
        gross = line["Quantity"] * line["UnitAmount"]
        discount = line.get("DiscountRate")
        amount = money(gross * (1 - discount / 100) if discount else gross)
        if amount_types == "NoTax":
            tax, line_tax_type = ZERO, "NONE"
        elif amount_types == "Inclusive":
            tax, line_tax_type = money(amount * tax_rate / (1 + tax_rate)), tax_type
        else:
            tax, line_tax_type = money(amount * tax_rate), tax_type
        line.update(LineAmount=amount, TaxAmount=tax, TaxType=line.get("TaxType") or line_tax_type)
    return lines


def document_totals(lines: list[dict[str, Any]], amount_types: str) -> dict[str, Decimal]:
    line_total = sum((line["LineAmount"] for line in lines), ZERO)
    tax = sum((line["TaxAmount"] for line in lines), ZERO)
    subtotal = line_total - tax if amount_types == "Inclusive" else line_total
    discount = sum(
        (
            money(line["Quantity"] * line["UnitAmount"]) - line["LineAmount"]
            for line in lines
            if line.get("DiscountRate")
        ),
        ZERO,
    )
    return {
        "SubTotal": subtotal,
        "TotalTax": tax,
        "Total": subtotal + tax,
        "TotalDiscount": discount,
    }
