"""Request and response bodies of the API, one module per domain. Amounts are integers of
minor units, strictly.

The names that other modules import from `cagnotte.api.schemas` are re-exported here;
the gift card bodies live in `cagnotte.api.schemas.gift_cards`.
"""

from cagnotte.api.schemas.base import (
    AmountMinor,
    AssetCode,
    Email,
    Name,
    ShortText,
    Strict,
    without_default,
)
from cagnotte.api.schemas.customers import (
    CustomerEnrol,
    CustomerOut,
    CustomerStatusChange,
    PersonName,
    PlatformAccountOut,
    PlatformStatusChange,
    Profile,
    ProfileChange,
)
from cagnotte.api.schemas.ledger import (
    AccountOut,
    BalanceOut,
    EntryOut,
    TransferOut,
)
from cagnotte.api.schemas.loyalty import MemberStandingOut
from cagnotte.api.schemas.merchants import (
    ApiKeyCreate,
    ApiKeyOut,
    AssetCreate,
    AssetOut,
    IssuedApiKeyOut,
    MerchantCreate,
    MerchantCreated,
    MerchantOut,
    MerchantSettingsChange,
    MerchantStatusChange,
    StaffCreate,
    StaffOut,
    StoreCreate,
    StoreOut,
    TerminalCreate,
    TerminalCreated,
    TerminalOut,
)
from cagnotte.api.schemas.sign_in import (
    MeOut,
    SessionOut,
    SignInCodeRequest,
    SignInCodeVerify,
)
from cagnotte.api.schemas.wallets import (
    AdjustmentCreate,
    PaymentOut,
    RefundCreate,
    WalletEntryOut,
    WalletMovement,
)

__all__ = [
    "AccountOut",
    "MemberStandingOut",
    "AdjustmentCreate",
    "AmountMinor",
    "ApiKeyCreate",
    "ApiKeyOut",
    "AssetCode",
    "AssetCreate",
    "AssetOut",
    "BalanceOut",
    "CustomerEnrol",
    "CustomerOut",
    "CustomerStatusChange",
    "Email",
    "EntryOut",
    "IssuedApiKeyOut",
    "MeOut",
    "MerchantCreate",
    "MerchantCreated",
    "MerchantSettingsChange",
    "MerchantOut",
    "MerchantStatusChange",
    "Name",
    "PaymentOut",
    "PersonName",
    "PlatformAccountOut",
    "PlatformStatusChange",
    "Profile",
    "ProfileChange",
    "RefundCreate",
    "SessionOut",
    "ShortText",
    "SignInCodeRequest",
    "SignInCodeVerify",
    "StaffCreate",
    "StaffOut",
    "StoreCreate",
    "StoreOut",
    "Strict",
    "TerminalCreate",
    "TerminalCreated",
    "TerminalOut",
    "TransferOut",
    "WalletEntryOut",
    "WalletMovement",
    "without_default",
]
