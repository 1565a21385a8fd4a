"""The iGEST API emulator (igest-api.md): the app, its entity state, validation rules, credit-note
rule and seed."""
