"""The key vault: master key, AES-GCM cipher, every sealed row, open and rotate."""

from __future__ import annotations

from bot.vault.cipher import Sealed, Vault
from bot.vault.keystore import check_key_settings, open_vault, rotate_master_key
from bot.vault.masterkey import fingerprint, generate_key, parse_key, read_key_file
from bot.vault.rows import SLACK_REFRESH_KEY_ID, SLACK_TOKEN_KEY_ID, reseal_all

__all__ = [
    "SLACK_REFRESH_KEY_ID",
    "SLACK_TOKEN_KEY_ID",
    "Sealed",
    "Vault",
    "check_key_settings",
    "fingerprint",
    "generate_key",
    "open_vault",
    "parse_key",
    "read_key_file",
    "reseal_all",
    "rotate_master_key",
]
