"""The cockpit: ``streamlit run app.py`` (http://127.0.0.1:8501); the pages: quant_core.cockpit."""

from quant_core.cockpit.app import main

main()
