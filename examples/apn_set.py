# Choose the APN used for the firmware download, then upgrade (BG95).
import fota

PACKAGE_URL = "http://127.0.0.1:8080/app-v2.fota"

updater = fota()
print("apn_set ->", updater.apn_set(fota_apn="iot.example", ip_type=0, fota_user="", fota_password=""))


def on_progress(args):
    print("fota status", args[0], "progress", args[1])


print("httpDownload ->", updater.httpDownload(url1=PACKAGE_URL, callback=on_progress))
