# Update application files (not the firmware) with app_fota: download several files, arm the
# update, restart; the files are swapped in at the next boot.
import app_fota
from misc import Power

BASE_URL = "http://127.0.0.1:8080/app/"
FILES = ["main.py", "config.json"]

updater = app_fota.new()
items = [{"url": BASE_URL + name, "file_name": "/usr/" + name} for name in FILES]
failed = updater.bulk_download(items)
if failed:
    print("failed downloads:", failed)
else:
    print("all files staged")
    updater.set_update_flag()
    Power.powerRestart()
