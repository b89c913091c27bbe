# Copyright (c) mmgres contributors. All rights reserved.
