"""Switchboard custom checkov policies for Bicep (CKV_SWB_*). See README.md."""
